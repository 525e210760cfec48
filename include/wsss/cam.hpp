// SPDX-License-Identifier: MIT
// wsss/cam.hpp — umbrella for label synthesis from class activation maps
#pragma once

#include "wsss/cam/cam.hpp"
#include "wsss/cam/background.hpp"
#include "wsss/cam/confident_regions.hpp"
#include "wsss/cam/device.hpp"
#include "wsss/cam/cues.hpp"
