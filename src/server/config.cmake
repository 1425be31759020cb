# culvertd's configuration (command line + TOML) and logging; included from
# src/server/CMakeLists.txt (and, until that exists, from tests/unit/config.cmake).
include_guard(GLOBAL)
find_package(CLI11 CONFIG REQUIRED)
find_package(tomlplusplus CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)

add_library(culvert_config STATIC ${CMAKE_CURRENT_LIST_DIR}/config.cpp)
target_include_directories(culvert_config PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
target_link_libraries(culvert_config PUBLIC fmt::fmt PRIVATE CLI11::CLI11 tomlplusplus::tomlplusplus)
target_compile_definitions(culvert_config PRIVATE CULVERT_VERSION="${PROJECT_VERSION}")

add_library(culvert_logging STATIC ${CMAKE_CURRENT_LIST_DIR}/logging.cpp)
target_include_directories(culvert_logging PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
target_link_libraries(culvert_logging PUBLIC spdlog::spdlog fmt::fmt)
