#pragma once
// stb_image (Debian: libstb-dev), the PNG decoder of the tests that read back what invar wrote.
// Its implementation is compiled here with static linkage, once per translation unit even when
// the unity build puts several test files into one (the implementation section has no guard
// of its own).
#if !defined(INVAR_TEST_STB_IMAGE_INCLUDED) && !defined(STBI_INCLUDE_STB_IMAGE_H)
#define INVAR_TEST_STB_IMAGE_INCLUDED
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif
