# invar's shared CUDA settings, in one place: included by invar's CMakeLists.txt (after
# enable_language(CUDA)) and, installed, by invarConfig.cmake for find_package(invar COMPONENTS cuda).
#
# C++20 for CUDA: invar's headers use concepts. CMake 3.25 knows nvcc's flags only up to C++17
# ("CUDA20 dialect not supported" with nvcc 13), although nvcc >= 12 takes -std=c++20: teach it,
# and make cuda_std_20 a known compile feature, so that the INTERFACE target invar::cuda can
# require it (consumers then compile their .cu files as C++20). Nothing changes where CMake
# knows it already. The variables are directory-scoped: this runs where CUDA is enabled, before
# the targets that use invar::cuda are created (a consumer enables CUDA before find_package).
get_property(_invar_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
if("CUDA" IN_LIST _invar_languages AND CMAKE_CUDA_COMPILER_ID STREQUAL "NVIDIA"
   AND CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.0)
  if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
  if(NOT "cuda_std_20" IN_LIST CMAKE_CUDA_COMPILE_FEATURES)
    list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
    set(CMAKE_CUDA20_COMPILE_FEATURES cuda_std_20)
  endif()
endif()
unset(_invar_languages)
