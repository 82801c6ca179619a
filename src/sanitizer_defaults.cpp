// Defaults for AddressSanitizer/LeakSanitizer builds (-DSHARDFLOW_SANITIZE=ON). Open MPI, PMIx,
// hwloc and libevent keep process-lifetime allocations that LeakSanitizer reports as leaks at
// exit; they are not ours and cannot be freed, so they are suppressed by library. Leaks in
// shardflow's own code are still reported. Linked into every executable of a sanitizer build
// (see the top-level CMakeLists.txt).

#if defined(__SANITIZE_ADDRESS__)
// Open MPI's libraries are built without frame pointers; the fast unwinder stops at their first
// frame, leaving stacks the suppressions below cannot match.
extern "C" const char* __asan_default_options() {
  return "fast_unwind_on_malloc=0";
}

extern "C" const char* __lsan_default_suppressions() {
  return "leak:libmpi.so\n"
         "leak:libopen-pal.so\n"
         "leak:libopen-rte.so\n"
         "leak:libpmix.so\n"
         "leak:libhwloc.so\n"
         "leak:libevent\n"
         "leak:mca_\n"
         "leak:libhdf5\n";
}
#endif
