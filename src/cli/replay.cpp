// `culvert replay`: regression runs from captures (docs/replay.md). The engine lives in
// src/cli/replay/; this file is the command line.
#include "cli/commands.hpp"
#include "cli/replay/runner.hpp"

#include <iostream>
#include <memory>

namespace culvert::cli {

Command add_replay_command(CLI::App& parent) {
    struct State {
        replay::ReplayOptions o;
        std::optional<std::string> expect, output, mac, filter, socket;
        std::optional<uint64_t> duration_ms;
        bool live = false;
    };
    auto st = std::make_shared<State>();
    CLI::App* app = parent.add_subcommand(
        "replay",
        "Play the peer's side of a capture into culvert under a virtual clock and compare what "
        "culvert sends with the recorded answer (exit 0 equal, 1 different, 2 bad input)");
    app->add_option("--input", st->o.input, "Capture of the peer's frames (pcap or pcapng)")
        ->type_name("FILE")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app->add_option("--expect", st->expect, "Capture of culvert's recorded answer")->type_name("FILE")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app->add_option("--output", st->output, "Write what culvert sends now to FILE")->type_name("FILE")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app->add_option("--app", st->o.app,
                    "App on culvert's side: none, tcp-echo:PORT, http:PORT, udp-echo:PORT, "
                    "tcp-send:HOST:PORT[,bytes=N][,at=MS] (default none)")
        ->type_name("SPEC")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app->add_option("--seed", st->o.seed, "Stack seed (ISNs, ports; default 1)")->type_name("N")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app->add_option("--as", st->o.as,
                    "Culvert's address in the capture, ADDR[/N] or ADDR[/N]=NEWADDR[/N] to move it "
                    "(repeatable; default: the sources of --expect)")
        ->type_name("ADDR");
    app->add_option("--mac", st->mac, "Culvert's MAC in the capture, MAC or MAC=NEWMAC (default: from --expect)")
        ->type_name("MAC")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app->add_option("--map", st->o.maps, "Rewrite another address everywhere, OLD=NEW (MAC, IPv4 or IPv6)")
        ->type_name("OLD=NEW");
    app->add_option("--mtu", st->o.mtu, "Culvert's MTU (default 1500)")->type_name("BYTES")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app->add_option("--tolerance-ms", st->o.tolerance_ms, "Allowed timing difference per frame (default 50)")
        ->type_name("MS")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app->add_option("--duration-ms", st->duration_ms,
                    "Virtual time to run (default: until the last recorded frame + tolerance)")
        ->type_name("MS")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app->add_option("--compare-filter", st->filter, "Compare only the frames this BPF expression matches")
        ->type_name("BPF")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app->add_flag("--verbose", st->o.verbose, "List every frame culvert sent and the flow mappings");
    app->add_flag("--live", st->live,
                  "Run --app against a running culvertd instead of replaying (to record a corpus)");
    app->add_option("--socket", st->socket, "culvertd's control socket for --live (default $CULVERT_SOCKET)")
        ->type_name("PATH")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

    app->footer(
        "A later option overrides an earlier one (--as, --map add up). Details: docs/replay.md.");
    Command cmd;
    cmd.app = app;
    cmd.action = [st, app](TrailingArgs) -> int {
        if (st->live) return replay::run_live(st->o.app, st->socket, std::cerr);
        if (st->o.input.empty()) {
            std::cerr << "culvert replay: --input FILE is required\n";
            return kExitUsage;
        }
        st->o.expect = st->expect;
        st->o.output = st->output;
        st->o.mac = st->mac;
        st->o.compare_filter = st->filter;
        st->o.duration_ms = st->duration_ms;
        std::string line = "culvert replay";
        for (const CLI::Option* opt : app->get_options()) {
            if (opt->count() == 0 || opt->get_name() == "--help") continue;
            for (const auto& v : opt->results()) {
                line += " " + opt->get_name();
                if (opt->get_type_size() != 0) line += " '" + v + "'";
            }
        }
        st->o.command_line = line;
        return replay::run_replay(st->o, std::cout, std::cerr);
    };
    return cmd;
}

}  // namespace culvert::cli
