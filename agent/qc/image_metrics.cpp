// SPDX-License-Identifier: Apache-2.0
// Quality figures of a camera shot (sharpness, brightness) and the flags their thresholds raise.
#include "qc/image_metrics.hpp"

#include <opencv2/imgproc.hpp>

#include "mto/error.hpp"

namespace mto {

ImageMetrics measureImage(const cv::Mat& image, const ImageThresholds& t) {
    if (image.empty()) throw Error("empty image");
    cv::Mat gray;
    if (image.channels() == 1)
        gray = image;
    else
        cv::cvtColor(image, gray, image.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
    cv::Mat lap;
    cv::Laplacian(gray, lap, CV_64F);
    cv::Scalar mean, stddev;
    cv::meanStdDev(lap, mean, stddev);
    ImageMetrics m;
    m.sharpness = stddev[0] * stddev[0];
    m.brightness = cv::mean(gray)[0];
    if (t.sharpnessMin > 0 && m.sharpness < t.sharpnessMin) m.flags.push_back("blurred");
    if (t.brightnessMin > 0 && m.brightness < t.brightnessMin) m.flags.push_back("dark");
    if (t.brightnessMax < 255 && m.brightness > t.brightnessMax) m.flags.push_back("overexposed");
    return m;
}

} // namespace mto
