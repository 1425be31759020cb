// NodeLoader (node_loader.hpp).
#include "sim/node_loader.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>

#ifndef CULVERT_SIM_NODE_BUILD_PATH
#define CULVERT_SIM_NODE_BUILD_PATH ""
#endif

namespace culvert::sim {

std::string default_node_library() {
    if (const char* env = std::getenv("CULVERT_SIM_NODE"); env && *env) return env;
    char exe[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        auto next_to = std::filesystem::path(exe).parent_path() / "libculvert-sim-node.so";
        std::error_code ec;
        if (std::filesystem::exists(next_to, ec)) return next_to.string();
    }
    return CULVERT_SIM_NODE_BUILD_PATH;
}

std::expected<NodeLoader*, std::string> NodeLoader::get(int count, const std::string& library) {
    static NodeLoader* loader = [] {
        auto* l = new NodeLoader();
        l->apis_.push_back(culvert_sim_node_get_api());  // node 0: linked in
        return l;
    }();
    if (loader->library_.empty())
        loader->library_ = library.empty() ? default_node_library() : library;
    while (loader->loaded() < count) {
        if (loader->library_.empty())
            return std::unexpected("culvert sim: no node library (set CULVERT_SIM_NODE)");
        void* h = dlmopen(LM_ID_NEWLM, loader->library_.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h)
            return std::unexpected("culvert sim: cannot load node " +
                                   std::to_string(loader->loaded()) + " from " + loader->library_ +
                                   ": " + dlerror());
        using GetApi = const culvert_sim_node_api* (*)();
        auto get_api = reinterpret_cast<GetApi>(dlsym(h, "culvert_sim_node_get_api"));
        if (!get_api)
            return std::unexpected("culvert sim: " + loader->library_ +
                                   " has no culvert_sim_node_get_api");
        const culvert_sim_node_api* api = get_api();
        if (api->abi_version != CULVERT_SIM_NODE_ABI_VERSION)
            return std::unexpected("culvert sim: " + loader->library_ + " speaks node ABI " +
                                   std::to_string(api->abi_version) + ", this program " +
                                   std::to_string(CULVERT_SIM_NODE_ABI_VERSION));
        loader->apis_.push_back(api);
    }
    return loader;
}

std::vector<const culvert_sim_node_api*> NodeLoader::apis(int count) const {
    return std::vector<const culvert_sim_node_api*>(apis_.begin(), apis_.begin() + count);
}

bool NodeLoader::take(int) {
    if (used_) return false;
    used_ = true;
    return true;
}

}  // namespace culvert::sim
