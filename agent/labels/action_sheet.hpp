// SPDX-License-Identifier: Apache-2.0
// The action sheet: every action barcode an operator scans (QC, packing, shipping, each machine's decisions).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "mto/config.hpp"

namespace mto {

struct ActionEntry {
    std::string caption;   // what the operator reads
    std::string code;      // what the scanner reads (barcode::actionCode)
};

// Stateless; draws A4 pages of captioned codes in the configured symbology.
class ActionSheet {
public:
    // The sheet's codes in print order: QC pass, QC fail per reason, packed, shipped, cancel, then per
    // machine clear bed, resume, restart and scrap.
    static std::vector<ActionEntry> entries(const std::vector<std::string>& machineIds);

    ActionSheet(std::vector<ActionEntry> entries, LabelsConfig::Symbology symbology, std::string title);

    // PDF: as many A4 pages as the codes need. PNG: one image of the same pages stacked, at `dpi`.
    // Throws mto::Error when a code does not fit the page width (it names the code).
    void writePdf(const std::filesystem::path& path) const;
    void writePng(const std::filesystem::path& path, int dpi) const;
    // By the file's extension (.pdf or .png); throws mto::Error for any other.
    void write(const std::filesystem::path& path) const;

private:
    std::vector<ActionEntry> entries_;
    LabelsConfig::Symbology symbology_;
    std::string title_;
};

} // namespace mto
