# Unit and stress tests of the shared-memory channel primitives (src/channels/).
foreach(t segment_test event_queue_test readiness_test channel_hostile_test)
  if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/${t}.cpp)
    culvert_add_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.cpp
      LIBS culvert_channels LABELS unit channels)
  endif()
endforeach()
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/channel_stress_test.cpp)
  culvert_add_test(channel_stress_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/channel_stress_test.cpp
    LIBS culvert_channels LABELS unit channels stress TIMEOUT 60)
endif()

# Every channel header compiles on its own (CONVENTIONS): one translation unit per header
# that includes nothing else.
file(GLOB CULVERT_CHANNEL_HEADERS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/channels/*.hpp)
set(CULVERT_CHANNEL_HEADER_TUS "")
foreach(header ${CULVERT_CHANNEL_HEADERS})
  get_filename_component(stem ${header} NAME_WE)
  set(tu ${CMAKE_CURRENT_BINARY_DIR}/channels_header_check/${stem}.cpp)
  file(CONFIGURE OUTPUT ${tu} CONTENT "#include \"channels/${stem}.hpp\"\n")
  list(APPEND CULVERT_CHANNEL_HEADER_TUS ${tu})
endforeach()
add_library(culvert_channels_header_check OBJECT ${CULVERT_CHANNEL_HEADER_TUS})
target_include_directories(culvert_channels_header_check PRIVATE ${CMAKE_SOURCE_DIR}/src)
