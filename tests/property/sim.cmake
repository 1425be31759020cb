# Whole-stack simulator properties (sim/, docs/simulator.md). Release runs >= 2,000
# scenarios per run; slower builds scale the counts down (CULVERT_SIM_SCALE overrides).
if(TARGET culvert_sim)
  set(culvert_sim_optimized 0)
  if(CULVERT_SANITIZE)
    set(culvert_sim_scale 0.1)
  elseif(CMAKE_BUILD_TYPE STREQUAL "Debug")
    set(culvert_sim_scale 0.25)
  else()
    set(culvert_sim_scale 1.0)
    set(culvert_sim_optimized 1)
  endif()
  culvert_add_test(sim_props
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/sim_props.cpp
    LIBS culvert_sim rapidcheck_gtest rapidcheck
    LABELS property
    TIMEOUT 120)
  target_compile_definitions(sim_props PRIVATE
    CULVERT_SIM_DEFAULT_SCALE=${culvert_sim_scale}
    CULVERT_SIM_OPTIMIZED=${culvert_sim_optimized}
    "CULVERT_SIM_CLI=\"$<TARGET_FILE:culvert>\"")
  add_dependencies(sim_props culvert culvert-sim-node)

  culvert_add_test(sim_wire_props
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/sim_wire_props.cpp
    LIBS culvert_sim_wire rapidcheck_gtest rapidcheck
    LABELS property)
endif()
