// The scheduler and runtime of the host CUDA emulation (see cuda_emu.h): fibers for the threads of a block.
#include "cuda_emu.h"

#include <ucontext.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define FL_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FL_EMU_ASAN 1
#endif
#endif
#ifdef FL_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace fl_emu {

uint3 thread_idx, block_idx;
dim3 block_dim, grid_dim;

namespace {

#ifdef FL_EMU_ASAN
constexpr size_t kStack = 512 * 1024;  // instrumented frames are larger
#else
constexpr size_t kStack = 128 * 1024;
#endif

// A context switch: ucontext's swapcontext makes a system call (the signal mask) at every switch and, under
// AddressSanitizer, clears the shadow of the whole target stack; on x86-64 a few instructions do instead.
#if defined(__x86_64__)
extern "C" void fl_emu_switch(void** save_sp, void* to_sp);
asm(R"(
.text
.globl fl_emu_switch
.type fl_emu_switch,@function
fl_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size fl_emu_switch,.-fl_emu_switch
.section .note.GNU-stack,"",@progbits
.text
)");
struct Context {
  void* sp = nullptr;
};
void swap_to(Context& from, Context& to) { fl_emu_switch(&from.sp, to.sp); }
// The first switch to a fresh stack "returns" into entry, as if entry had been called (16-byte alignment).
void make_context(Context& c, char* stack, size_t size, void (*entry)()) {
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + size) & ~uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                               // entry's return address: entry never returns
  *--sp = reinterpret_cast<void*>(entry);        // where fl_emu_switch's ret goes
  for (int i = 0; i < 6; ++i) *--sp = nullptr;   // rbp rbx r12 r13 r14 r15
  uint32_t ctrl[2];
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(ctrl[0]), "=m"(ctrl[1]));
  *--sp = nullptr;
  std::memcpy(sp, ctrl, 8);                      // mxcsr, x87 control word
  c.sp = sp;
}
#else
struct Context {
  ucontext_t uc;
};
void swap_to(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
void make_context(Context& c, char* stack, size_t size, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = size;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
#endif

struct Fiber {
  Context ctx;
  std::unique_ptr<char[]> stack;
  bool done = true;
};

std::vector<std::unique_ptr<Fiber>> fibers;
Context scheduler;
const std::function<void()>* job = nullptr;
Fiber* current = nullptr;
bool in_kernel = false, reverse_order = false;
cudaError_t sticky = cudaSuccess;
int64_t launches = 0;
#ifdef FL_EMU_ASAN
const void* sched_stack = nullptr;
size_t sched_stack_size = 0;
#endif

// Fiber -> scheduler.
void yield() {
#ifdef FL_EMU_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, sched_stack, sched_stack_size);
  swap_to(current->ctx, scheduler);
  __sanitizer_finish_switch_fiber(fake, &sched_stack, &sched_stack_size);
#else
  swap_to(current->ctx, scheduler);
#endif
}

// Scheduler -> fiber f, back when it yields (at a barrier or at the end of the kernel).
void resume(Fiber* f) {
  current = f;
#ifdef FL_EMU_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f->stack.get(), kStack);
  swap_to(scheduler, f->ctx);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  swap_to(scheduler, f->ctx);
#endif
}

// A fiber runs kernels forever: one thread's body per resume-to-done.
void fiber_main() {
#ifdef FL_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &sched_stack, &sched_stack_size);
#endif
  for (;;) {
    (*job)();
    current->done = true;
    yield();
  }
}

Fiber* fiber(size_t i) {
  while (fibers.size() <= i) {
    auto f = std::make_unique<Fiber>();
    f->stack.reset(new char[kStack]);
    make_context(f->ctx, f->stack.get(), kStack, fiber_main);
    fibers.push_back(std::move(f));
  }
  return fibers[i].get();
}

void run_block(unsigned nthreads) {
  for (unsigned t = 0; t < nthreads; ++t) fiber(t)->done = false;
  unsigned live = nthreads;
  // Each pass takes every live thread to its next barrier or its end; the barrier opens between passes.
  while (live > 0) {
    for (unsigned k = 0; k < nthreads; ++k) {
      const unsigned t = reverse_order ? nthreads - 1 - k : k;
      Fiber* f = fibers[t].get();
      if (f->done) continue;
      thread_idx = uint3{t % block_dim.x, (t / block_dim.x) % block_dim.y, t / (block_dim.x * block_dim.y)};
      resume(f);
      if (f->done) --live;
    }
  }
}

}  // namespace

void launch_impl(dim3 grid, dim3 block, const std::function<void()>& body) {
  if (in_kernel) throw std::logic_error("fl_emu: a launch from inside a kernel");
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535 ||
      threads == 0 || threads > 1024 || block.z > 64) {
    std::fprintf(stderr, "fl_emu: launch with grid (%u, %u, %u) block (%u, %u, %u)\n", grid.x, grid.y, grid.z,
                 block.x, block.y, block.z);
    fault(cudaErrorInvalidConfiguration, "invalid launch configuration");
    return;
  }
  ++launches;
  in_kernel = true;
  job = &body;
  grid_dim = grid;
  block_dim = block;
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  for (uint64_t k = 0; k < blocks; ++k) {
    const uint64_t b = reverse_order ? blocks - 1 - k : k;
    block_idx = uint3{unsigned(b % grid.x), unsigned((b / grid.x) % grid.y), unsigned(b / (uint64_t(grid.x) * grid.y))};
    run_block(static_cast<unsigned>(threads));
  }
  job = nullptr;
  in_kernel = false;
}

void syncthreads() {
  if (!in_kernel) throw std::logic_error("fl_emu: __syncthreads outside a kernel");
  yield();
}

void fault(cudaError_t e, const char* what) {
  if (sticky != cudaSuccess) return;  // the first error sticks, as on a device
  if (in_kernel) std::fprintf(stderr, "fl_emu: %s (block %u, thread %u)\n", what, block_idx.x, thread_idx.x);
  else std::fprintf(stderr, "fl_emu: %s\n", what);
  sticky = e;
}

void set_reverse(bool reverse) { reverse_order = reverse; }
int64_t launch_count() { return launches; }

cudaError_t get_last_error() {
  const cudaError_t e = sticky;
  sticky = cudaSuccess;
  return e;
}
cudaError_t peek_at_last_error() { return sticky; }
const char* get_error_name(cudaError_t e) {
  return e == cudaSuccess ? "cudaSuccess"
         : e == cudaErrorInvalidConfiguration ? "cudaErrorInvalidConfiguration"
         : e == cudaErrorMemoryAllocation    ? "cudaErrorMemoryAllocation"
         : e == cudaErrorMisalignedAddress   ? "cudaErrorMisalignedAddress"
                                             : "cudaError (emulated)";
}
const char* get_error_string(cudaError_t e) {
  return e == cudaErrorInvalidConfiguration ? "invalid configuration argument (emulated)"
         : e == cudaErrorMisalignedAddress  ? "misaligned address (emulated)"
                                            : "emulated error";
}
cudaError_t get_device(int* d) {
  *d = 0;
  return cudaSuccess;
}
cudaError_t set_device(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
cudaError_t get_device_count(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t malloc_bytes(void** p, size_t bytes) {
  *p = std::malloc(bytes);  // exactly the size asked for: the sanitizer sees any access beyond it
  return *p || bytes == 0 ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t free_bytes(void* p) {
  std::free(p);
  return cudaSuccess;
}

}  // namespace fl_emu
