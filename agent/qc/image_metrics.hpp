// SPDX-License-Identifier: Apache-2.0
// Quality figures of a camera shot (sharpness, brightness) and the flags their thresholds raise.
#pragma once

#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace mto {

struct ImageThresholds {
    double sharpnessMin = 0;     // variance of the Laplacian below this: blurred (0: never)
    double brightnessMin = 0;    // mean gray below this: dark (0: never)
    double brightnessMax = 255;  // mean gray above this: overexposed (255: never)
};

struct ImageMetrics {
    double sharpness = 0;    // variance of the Laplacian of the gray image
    double brightness = 0;   // mean gray, 0..255
    std::vector<std::string> flags;   // blurred, dark, overexposed
};

// Pure; any thread. Throws mto::Error on an empty image.
ImageMetrics measureImage(const cv::Mat& bgrOrGray, const ImageThresholds& t);

} // namespace mto
