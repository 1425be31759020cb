# Whole-stack simulator properties (sim/, docs/simulator.md). Release runs >= 2,000
# scenarios per run; slower builds scale the counts down (CULVERT_SIM_SCALE overrides).
if(TARGET culvert_sim)
  if(CULVERT_SANITIZE)
    set(culvert_sim_scale 0.1)
  elseif(CMAKE_BUILD_TYPE STREQUAL "Debug")
    set(culvert_sim_scale 0.25)
  else()
    set(culvert_sim_scale 1.0)
  endif()
  culvert_add_test(sim_props
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/sim_props.cpp
    LIBS culvert_sim rapidcheck_gtest rapidcheck
    LABELS property sim
    TIMEOUT 120)
  target_compile_definitions(sim_props PRIVATE
    CULVERT_SIM_DEFAULT_SCALE=${culvert_sim_scale}
    CULVERT_SIM_OPTIMIZED=$<IF:$<OR:$<CONFIG:Debug>,$<BOOL:${CULVERT_SANITIZE}>>,0,1>
    "CULVERT_SIM_CLI=\"$<TARGET_FILE:culvert>\"")
  add_dependencies(sim_props culvert culvert-sim-node)
endif()
