// Tests of `culvert run` (src/cli/run.cpp): the real culvert binary runs /usr/bin/env and
// friends; we check what reached the program's environment and the exit statuses.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

struct Outcome {
    int exit_status = -1;  // -1: killed (timeout or signal)
    std::string out;
    std::string err;
};

// Runs argv with exactly `env` as its environment, collecting stdout and stderr; a child
// that outlives timeout_ms is killed, so a bug shows up as a failure, never a hang.
Outcome run_process(const std::vector<std::string>& args, const std::vector<std::string>& env,
                    int timeout_ms = 10'000) {
    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
        ADD_FAILURE() << "pipe2: " << std::strerror(errno);
        return {};
    }
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    const pid_t pid = fork();
    if (pid == 0) {
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        execve(argv[0], argv.data(), envp.data());
        _exit(99);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    Outcome outcome;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&outcome.out, &outcome.err};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    int open_fds = 2;
    while (open_fds > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ADD_FAILURE() << "timeout running " << args[0];
            kill(pid, SIGKILL);
            break;
        }
        if (poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[4096];
            const ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                sinks[i]->append(buf, static_cast<size_t>(n));
            } else {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) close(f.fd);
    int status = 0;
    waitpid(pid, &status, 0);
    outcome.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return outcome;
}

// The culvert binary may be built with ASan, which insists on being the first library
// loaded; tests that hand it an LD_PRELOAD of their own relax that check.
std::vector<std::string> base_env() {
    return {"PATH=/usr/bin:/bin", "ASAN_OPTIONS=verify_asan_link_order=0"};
}

Outcome culvert(std::vector<std::string> args, std::vector<std::string> env = base_env()) {
    args.insert(args.begin(), CULVERT_BIN);
    return run_process(args, env);
}

std::string env_line(const std::string& name, const std::string& value) {
    return "\n" + name + "=" + value + "\n";
}

// env's output with a leading newline so that every variable can be matched as "\nNAME=".
std::string env_output(const Outcome& o) {
    return "\n" + o.out;
}

std::string real(const std::string& path) {
    return fs::canonical(path).string();
}

// A fresh directory under /tmp, removed with everything in it at the end of the scope.
class TempDir {
  public:
    TempDir() {
        char name[] = "/tmp/culvert-run-test-XXXXXX";
        if (mkdtemp(name) == nullptr) ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
        path_ = name;
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

TEST(CulvertRun, SetsPreloadAndSocketForTheProgram) {
    auto o = culvert({"run", "--socket", "/tmp/culvert-test.sock", "--preload", PRELOAD_A, "--",
                      "/usr/bin/env"});
    ASSERT_EQ(o.exit_status, 0) << o.err;
    EXPECT_THAT(env_output(o), HasSubstr(env_line("LD_PRELOAD", real(PRELOAD_A))));
    EXPECT_THAT(env_output(o), HasSubstr(env_line("CULVERT_SOCKET", "/tmp/culvert-test.sock")));
    EXPECT_THAT(env_output(o), HasSubstr(env_line("PATH", "/usr/bin:/bin")));
}

TEST(CulvertRun, WithoutSocketLeavesCulvertSocketAlone) {
    auto env = base_env();
    auto o = culvert({"run", "--preload", PRELOAD_A, "--", "/usr/bin/env"}, env);
    ASSERT_EQ(o.exit_status, 0) << o.err;
    EXPECT_THAT(env_output(o), Not(HasSubstr("\nCULVERT_SOCKET=")));
    env.push_back("CULVERT_SOCKET=/tmp/inherited.sock");
    o = culvert({"run", "--preload", PRELOAD_A, "--", "/usr/bin/env"}, env);
    ASSERT_EQ(o.exit_status, 0) << o.err;
    EXPECT_THAT(env_output(o), HasSubstr(env_line("CULVERT_SOCKET", "/tmp/inherited.sock")));
}

TEST(CulvertRun, PrependsToAnExistingPreloadWithoutDuplicating) {
    auto env = base_env();
    env.push_back("LD_PRELOAD=" + std::string(PRELOAD_B));
    auto o = culvert({"run", "--preload", PRELOAD_A, "--", "/usr/bin/env"}, env);
    ASSERT_EQ(o.exit_status, 0) << o.err;
    EXPECT_THAT(env_output(o),
                HasSubstr(env_line("LD_PRELOAD", real(PRELOAD_A) + ":" + std::string(PRELOAD_B))));

    env.back() = "LD_PRELOAD=" + real(PRELOAD_A) + " " + std::string(PRELOAD_B);
    o = culvert({"run", "--preload", PRELOAD_A, "--", "/usr/bin/env"}, env);
    ASSERT_EQ(o.exit_status, 0) << o.err;
    EXPECT_THAT(env_output(o),
                HasSubstr(env_line("LD_PRELOAD", real(PRELOAD_A) + ":" + std::string(PRELOAD_B))));
}

TEST(CulvertRun, ProgramArgumentsPassUntouched) {
    // After "--", and also without it: words that look like culvert's options are PROGRAM's.
    for (const auto& prefix : {std::vector<std::string>{"run", "--preload", PRELOAD_A, "--"},
                               std::vector<std::string>{"run", "--preload", PRELOAD_A}}) {
        auto args = prefix;
        args.insert(args.end(), {"/bin/echo", "-n", "--socket", "x", "--", "a b"});
        auto o = culvert(args);
        ASSERT_EQ(o.exit_status, 0) << o.err;
        EXPECT_EQ(o.out, "--socket x -- a b");
    }
}

TEST(CulvertRun, ProgramExitStatusIsPassedOn) {
    auto o = culvert({"run", "--preload", PRELOAD_A, "--", "/bin/sh", "-c", "exit 42"});
    EXPECT_EQ(o.exit_status, 42) << o.err;
}

TEST(CulvertRun, MissingProgramExits127LikeAShell) {
    auto o = culvert({"run", "--preload", PRELOAD_A, "--", "culvert-no-such-program-xyz"});
    EXPECT_EQ(o.exit_status, 127);
    EXPECT_THAT(o.err, HasSubstr("culvert-no-such-program-xyz: command not found"));

    o = culvert({"run", "--preload", PRELOAD_A, "--", "/nonexistent/dir/prog"});
    EXPECT_EQ(o.exit_status, 127);
    EXPECT_THAT(o.err, AllOf(HasSubstr("/nonexistent/dir/prog"), HasSubstr("No such file")));
}

TEST(CulvertRun, NonExecutableProgramExits126) {
    TempDir dir;
    const fs::path file = dir.path() / "not-executable";
    {
        FILE* f = fopen(file.c_str(), "w");
        ASSERT_NE(f, nullptr);
        fputs("#!/bin/sh\nexit 0\n", f);
        fclose(f);
    }
    chmod(file.c_str(), 0644);
    auto o = culvert({"run", "--preload", PRELOAD_A, "--", file.string()});
    // root may execute nothing without an x bit either (execve needs one x bit for root).
    EXPECT_EQ(o.exit_status, 126) << o.err;
    EXPECT_THAT(o.err, HasSubstr("Permission denied"));
}

TEST(CulvertRun, BadPreloadIsCulvertsOwnFailure) {
    auto o = culvert({"run", "--preload", "/nonexistent/libx.so", "--", "/bin/true"});
    EXPECT_EQ(o.exit_status, 125);
    EXPECT_THAT(o.err, AllOf(HasSubstr("/nonexistent/libx.so"), HasSubstr("No such file")));

    o = culvert({"run", "--preload", "/tmp", "--", "/bin/true"});
    EXPECT_EQ(o.exit_status, 125);
    EXPECT_THAT(o.err, AllOf(HasSubstr("\"/tmp\""), HasSubstr("not a regular file")));
}

TEST(CulvertRun, UsageErrorsExit2) {
    auto o = culvert({"run", "--preload", PRELOAD_A});
    EXPECT_EQ(o.exit_status, 2);
    EXPECT_THAT(o.err, HasSubstr("no program given"));
    o = culvert({"run", "--preload", PRELOAD_A, "--"});
    EXPECT_EQ(o.exit_status, 2);
    o = culvert({"run", "--socket", "--", "/bin/true"});
    EXPECT_EQ(o.exit_status, 2);
    EXPECT_THAT(o.err, HasSubstr("--socket"));
    o = culvert({});
    EXPECT_EQ(o.exit_status, 2);
    o = culvert({"no-such-subcommand"});
    EXPECT_EQ(o.exit_status, 2);
}

TEST(CulvertRun, HelpAndVersion) {
    auto o = culvert({"--help"});
    EXPECT_EQ(o.exit_status, 0);
    EXPECT_THAT(o.out, HasSubstr("run"));
    o = culvert({"run", "--help"});
    EXPECT_EQ(o.exit_status, 0);
    EXPECT_THAT(o.out, AllOf(HasSubstr("--socket"), HasSubstr("--preload"), HasSubstr("PROGRAM")));
    o = culvert({"--version"});
    EXPECT_EQ(o.exit_status, 0);
    EXPECT_THAT(o.out, HasSubstr("culvert 0."));
}

// Without --preload, culvert looks next to its own executable, then in ../lib, then (when
// the preload target is part of the build) in the build tree: copies of the binary in a
// temporary tree show the places are searched in that order.
TEST(CulvertRun, FindsThePreloadLibraryNextToItselfOrInLib) {
    TempDir dir;
    const fs::path& root = dir.path();
    fs::create_directories(root / "bin");
    fs::create_directories(root / "lib");
    const fs::path exe = root / "bin" / "culvert";
    fs::copy_file(CULVERT_BIN, exe);
    const std::vector<std::string> env_cmd = {exe.string(), "run", "--", "/usr/bin/env"};

    // Not next to it: the build tree's library if there is one, else a clear message
    // naming the places searched.
    auto o = run_process(env_cmd, base_env());
    if (std::string build_tree = BUILD_TREE_PRELOAD; !build_tree.empty()) {
        ASSERT_EQ(o.exit_status, 0) << o.err;
        EXPECT_THAT(env_output(o), HasSubstr(env_line("LD_PRELOAD", real(build_tree))));
    } else {
        EXPECT_EQ(o.exit_status, 125);
        EXPECT_THAT(o.err, AllOf(HasSubstr("libculvert-preload.so"),
                                 HasSubstr((root / "bin").string()), HasSubstr("--preload")));
    }

    fs::copy_file(PRELOAD_B, root / "lib" / "libculvert-preload.so");
    o = run_process(env_cmd, base_env());
    ASSERT_EQ(o.exit_status, 0) << o.err;
    EXPECT_THAT(
        env_output(o),
        HasSubstr(env_line("LD_PRELOAD", (root / "lib" / "libculvert-preload.so").string())));

    fs::copy_file(PRELOAD_A, root / "bin" / "libculvert-preload.so");
    o = run_process(env_cmd, base_env());
    ASSERT_EQ(o.exit_status, 0) << o.err;
    EXPECT_THAT(
        env_output(o),
        HasSubstr(env_line("LD_PRELOAD", (root / "bin" / "libculvert-preload.so").string())));
}

}  // namespace
