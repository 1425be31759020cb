find_package(nlohmann_json REQUIRED)
culvert_add_test(inprocess_service_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/inprocess_service_test.cpp
  LIBS culvert_server culvert_client nlohmann_json::nlohmann_json LABELS unit)
