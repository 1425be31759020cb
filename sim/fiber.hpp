// Cooperative fibers (ucontext) for the simulator's client processes: a simulated process
// runs ordinary blocking code on its own stack, and wherever it would block (the client's
// idle hook, a poll wait) it yields to the scheduler, which resumes it in a later step. One
// OS thread, so runs stay deterministic. Annotated for AddressSanitizer's stack switching.
#pragma once

#include <cstddef>
#include <functional>
#include <ucontext.h>

namespace culvert::sim {

class Fiber {
  public:
    // The body runs on the first resume(); it must not throw (catch inside it).
    Fiber(std::function<void()> body, size_t stack_bytes = size_t{1} << 20);
    ~Fiber();
    Fiber(const Fiber&) = delete;
    Fiber& operator=(const Fiber&) = delete;

    // From the scheduler: runs the fiber until it yields or its body returns.
    void resume();
    // From inside a fiber: back to whoever resumed it.
    static void yield();
    // The fiber running now, or null on the scheduler's stack.
    static Fiber* current();
    bool finished() const { return finished_; }

  private:
    static void trampoline(unsigned hi, unsigned lo);
    std::function<void()> body_;
    void* stack_ = nullptr;
    size_t stack_bytes_ = 0;
    ucontext_t context_{};
    ucontext_t caller_{};
    bool started_ = false;
    bool finished_ = false;
    // AddressSanitizer bookkeeping (unused otherwise).
    void* fake_stack_ = nullptr;
    const void* caller_bottom_ = nullptr;
    size_t caller_size_ = 0;
};

}  // namespace culvert::sim
