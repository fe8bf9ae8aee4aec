// What the native core was built with, and what it runs with.
#pragma once
#include <string>
#include <vector>

namespace daka {

struct BuildInfo {
    std::string dlib_version;
    std::string compiler;
    std::vector<std::string> simd;  // instruction sets compiled in
    bool dlib_blas = false;         // dlib built to call a BLAS
    bool dlib_cuda = false;
    int openmp_max_threads = 0;
    std::string openmp_version;
};

BuildInfo build_info();

// Shared objects mapped into this process whose names contain `needle` (e.g. "blas").
std::vector<std::string> loaded_libraries(const std::string& needle);

}  // namespace daka
