# Model-based rapidcheck properties of the channel rings (src/channels/).
culvert_add_test(byte_ring_props
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/byte_ring_props.cpp
  LIBS culvert_channels rapidcheck_gtest rapidcheck
  LABELS property channels)
culvert_add_test(bipartite_ring_props
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bipartite_ring_props.cpp
  LIBS culvert_channels rapidcheck_gtest rapidcheck
  LABELS property channels)
