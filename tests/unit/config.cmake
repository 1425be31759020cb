# culvertd's configuration and logging (src/server/config.*, src/server/logging.*).
# src/server/CMakeLists.txt includes config.cmake; include it here too while it may not.
if(NOT TARGET culvert_config)
  include(${CMAKE_SOURCE_DIR}/src/server/config.cmake)
endif()
culvert_add_test(config_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_test.cpp ${CMAKE_CURRENT_LIST_DIR}/logging_test.cpp
  LIBS culvert_config culvert_logging
  LABELS unit)
