#include "buildinfo.hpp"

#include <dlib/config.h>
#include <dlib/revision.h>
#include <omp.h>

#include <fstream>
#include <set>
#include <sstream>

namespace daka {

BuildInfo build_info() {
    BuildInfo info;
    std::ostringstream v;
    v << DLIB_MAJOR_VERSION << "." << DLIB_MINOR_VERSION << "." << DLIB_PATCH_VERSION;
    info.dlib_version = v.str();
#if defined(__clang__)
    info.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
    info.compiler = "gcc " __VERSION__;
#else
    info.compiler = "unknown";
#endif
#ifdef __SSE2__
    info.simd.push_back("sse2");
#endif
#ifdef __SSE4_1__
    info.simd.push_back("sse4.1");
#endif
#ifdef __AVX__
    info.simd.push_back("avx");
#endif
#ifdef __AVX2__
    info.simd.push_back("avx2");
#endif
#ifdef __FMA__
    info.simd.push_back("fma");
#endif
#ifdef __AVX512F__
    info.simd.push_back("avx512f");
#endif
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
    info.simd.push_back("neon");
#endif
#ifdef DLIB_USE_BLAS
    info.dlib_blas = true;
#endif
#ifdef DLIB_USE_CUDA
    info.dlib_cuda = true;
#endif
    info.openmp_max_threads = omp_get_max_threads();
    info.openmp_version = std::to_string(_OPENMP);
    return info;
}

std::vector<std::string> loaded_libraries(const std::string& needle) {
    // /proc/self/maps lists every mapped file; the set keeps each library once.
    std::set<std::string> found;
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        auto slash = line.find('/');
        if (slash == std::string::npos) continue;
        std::string path = line.substr(slash);
        auto base = path.substr(path.rfind('/') + 1);
        if (base.find(needle) != std::string::npos) found.insert(path);
    }
    return {found.begin(), found.end()};
}

}  // namespace daka
