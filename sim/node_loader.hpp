// Where the simulator's nodes come from. lwIP keeps its state in globals, so each node is a
// separate copy of the stack: node 0 is the copy linked into this program, the others are
// loaded with dlmopen(LM_ID_NEWLM) from libculvert-sim-node.so, each into a fresh link-map
// namespace with its own globals (and its own libc and libstdc++). Namespaces are never
// unloaded (glibc keeps their static TLS), so a process loads its copies once, never uses
// them itself, and forks a child per scenario: every child starts from pristine nodes.
#pragma once

#include "sim/node/node_api.h"

#include <expected>
#include <string>
#include <vector>

namespace culvert::sim {

class NodeLoader {
  public:
    // The process-wide loader with at least `count` pristine nodes (loads more on demand,
    // up to glibc's namespace limit). `library`: the node library's path, or empty for the
    // default search ($CULVERT_SIM_NODE, next to this program, the build tree).
    static std::expected<NodeLoader*, std::string> get(int count, const std::string& library = {});

    // The tables of nodes [0, count). Each node may be created once per process: callers
    // that do not fork must call take() to claim them.
    std::vector<const culvert_sim_node_api*> apis(int count) const;
    // Claims nodes for an in-process run; false if they were used before in this process.
    bool take(int count);
    int loaded() const { return static_cast<int>(apis_.size()); }
    const std::string& library() const { return library_; }

  private:
    std::vector<const culvert_sim_node_api*> apis_;
    std::string library_;
    bool used_ = false;
};

// The default node library path (see NodeLoader::get).
std::string default_node_library();

}  // namespace culvert::sim
