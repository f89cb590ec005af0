#pragma once
/// \file no_group.hpp
/// The reserved id of a row that belongs to no group (an unlabelled row in semi-supervised use):
/// data samplers write it, the group-wise losses read it. It lives in core/ so that data/ and
/// losses/ share it without depending on each other.

#include "invar/core/config.hpp"

namespace invar {

/// The reserved group id of a row that belongs to no group.
inline constexpr index_t no_group = -1;

}  // namespace invar
