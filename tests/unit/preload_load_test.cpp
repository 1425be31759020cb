// Loads the built interposer into real programs with LD_PRELOAD: /bin/true and a program
// doing AF_UNIX socketpair I/O through every wrapped call. Proves the .so loads, exports
// exactly the table's names, and leaves kernel sockets to the kernel without contacting the
// Client (the fake-Client build logs every Client call to a file we inspect).
#include "client/preload/symbols.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

constexpr auto child_timeout = std::chrono::seconds(30);

struct ChildRun {
    bool finished = false;  // false: killed after child_timeout
    int status = -1;
    std::string output;  // stdout and stderr together
    bool exited_zero() const { return finished && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

// Runs argv with the current environment plus `env` (NAME=value, overriding), output
// captured; a child that outlives child_timeout is killed, so a hang becomes a failure.
ChildRun run(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    ChildRun result;
    const int out = ::memfd_create("preload-load-test-output", 0);
    if (out < 0) {
        return result;
    }
    std::vector<std::string> envs;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string entry(*e);
        const std::string name = entry.substr(0, entry.find('='));
        bool overridden = false;
        for (const auto& mine : env) {
            overridden = overridden || mine.substr(0, mine.find('=')) == name;
        }
        if (!overridden) {
            envs.push_back(entry);
        }
    }
    envs.insert(envs.end(), env.begin(), env.end());
    std::vector<char*> c_argv, c_env;
    for (const auto& a : argv) {
        c_argv.push_back(const_cast<char*>(a.c_str()));
    }
    c_argv.push_back(nullptr);
    for (const auto& e : envs) {
        c_env.push_back(const_cast<char*>(e.c_str()));
    }
    c_env.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out, STDOUT_FILENO);
        ::dup2(out, STDERR_FILENO);
        ::execve(c_argv[0], c_argv.data(), c_env.data());
        ::_exit(127);
    }
    if (pid < 0) {
        ::close(out);
        return result;
    }
    const auto deadline = std::chrono::steady_clock::now() + child_timeout;
    while (true) {
        const pid_t done = ::waitpid(pid, &result.status, WNOHANG);
        if (done == pid) {
            result.finished = true;
            break;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &result.status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    char buf[4096];
    ssize_t n = 0;
    off_t at = 0;
    while ((n = ::pread(out, buf, sizeof buf, at)) > 0) {
        result.output.append(buf, static_cast<size_t>(n));
        at += n;
    }
    ::close(out);
    return result;
}

// LD_PRELOAD value for one of our libraries: an instrumented build needs its sanitizer
// runtime loaded first.
std::string preload(const std::string& library) {
    const std::string runtime = CULVERT_SANITIZER_RUNTIME;
    return "LD_PRELOAD=" + (runtime.empty() ? library : runtime + ":" + library);
}

// A log file for the fake Client, removed on every exit path.
class TempLog {
  public:
    TempLog() {
        char name[] = "/tmp/culvert-preload-log-XXXXXX";
        const int fd = ::mkstemp(name);
        if (fd >= 0) {
            ::close(fd);
            path_ = name;
        }
    }
    ~TempLog() {
        if (!path_.empty()) {
            ::unlink(path_.c_str());
        }
    }
    const std::string& path() const { return path_; }
    std::vector<std::string> lines() const {
        std::vector<std::string> result;
        std::ifstream in(path_);
        for (std::string line; std::getline(in, line);) {
            result.push_back(line);
        }
        return result;
    }

  private:
    std::string path_;
};

std::string first_word(const std::string& line) {
    return line.substr(0, line.find(' '));
}

std::set<std::string> exported_names(const std::string& library) {
    std::set<std::string> names;
    const std::string command = "nm -D --defined-only " + library;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return names;
    }
    char line[512];
    while (std::fgets(line, sizeof line, pipe) != nullptr) {
        std::istringstream fields(line);
        std::string address, kind, name;
        if (fields >> address >> kind >> name) {
            names.insert(name.substr(0, name.find('@')));
        }
    }
    ::pclose(pipe);
    return names;
}

std::set<std::string> table_names() {
    return {
#define CULVERT_TEST_NAME(ret, name, ...) #name,
        CULVERT_PRELOAD_FIXED(CULVERT_TEST_NAME) CULVERT_PRELOAD_VARIADIC(CULVERT_TEST_NAME)
#undef CULVERT_TEST_NAME
    };
}

TEST(PreloadLoad, TheLibrariesExportExactlyTheTable) {
    const auto expected = table_names();
    EXPECT_EQ(expected.size(), 35u);
    EXPECT_EQ(exported_names(CULVERT_PRELOAD_SO), expected);
    EXPECT_EQ(exported_names(CULVERT_PRELOAD_FAKE_SO), expected);
}

TEST(PreloadLoad, LoadsIntoBinTrue) {
    for (const char* library : {CULVERT_PRELOAD_SO, CULVERT_PRELOAD_FAKE_SO}) {
        const ChildRun r = run({"/bin/true"}, {preload(library)});
        EXPECT_TRUE(r.exited_zero()) << library << ": status " << r.status << "\n" << r.output;
        EXPECT_EQ(r.output, "") << library;  // no loader complaint ("cannot be preloaded")
    }
}

TEST(PreloadLoad, SocketpairProgramPassesOnTheKernelAlone) {
    const ChildRun r = run({CULVERT_SOCKETPAIR_PROG}, {});
    EXPECT_TRUE(r.exited_zero()) << r.output;
    EXPECT_THAT(r.output, ::testing::HasSubstr("preload_socketpair_prog: ok"));
}

TEST(PreloadLoad, KernelSocketsUnderThePreloadNeverReachTheClient) {
    TempLog log;
    ASSERT_FALSE(log.path().empty());
    const ChildRun r =
        run({CULVERT_SOCKETPAIR_PROG},
            {preload(CULVERT_PRELOAD_FAKE_SO), "CULVERT_FAKE_CLIENT_LOG=" + log.path(),
             "CULVERT_EXPECT_PRELOAD=" CULVERT_PRELOAD_FAKE_SO});
    EXPECT_TRUE(r.exited_zero()) << r.output;
    EXPECT_THAT(r.output, ::testing::HasSubstr("preload_socketpair_prog: ok"));

    // The wrappers ran (they asked manages() about each fd, serves() about the AF_UNIX
    // socket) and never called the Client: no socket, sendmsg, recvmsg, close, ...
    int manages = 0;
    bool asked_about_unix = false;
    for (const auto& line : log.lines()) {
        const std::string op = first_word(line);
        EXPECT_TRUE(op == "manages" || op == "serves") << "the Client was called: " << line;
        manages += op == "manages" ? 1 : 0;
        asked_about_unix = asked_about_unix || line.starts_with("serves 1 ");
    }
    EXPECT_GE(manages, 20);
    EXPECT_TRUE(asked_about_unix);
}

TEST(PreloadLoad, SocketpairProgramPassesUnderTheRealLibrary) {
    const ChildRun r =
        run({CULVERT_SOCKETPAIR_PROG},
            {preload(CULVERT_PRELOAD_SO), "CULVERT_EXPECT_PRELOAD=" CULVERT_PRELOAD_SO});
    EXPECT_TRUE(r.exited_zero()) << r.output;
    EXPECT_THAT(r.output, ::testing::HasSubstr("preload_socketpair_prog: ok"));
}

}  // namespace
