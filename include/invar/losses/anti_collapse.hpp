#pragma once
/// \file anti_collapse.hpp
/// The anti-collapse penalties, all three: variance hinge, covariance penalty, PC1-share penalty
/// (docs/anti_collapse.md). Each also has its own header in losses/anti_collapse/.

#include "invar/losses/anti_collapse/covariance_penalty.hpp"
#include "invar/losses/anti_collapse/pc1_share_penalty.hpp"
#include "invar/losses/anti_collapse/variance_hinge.hpp"
