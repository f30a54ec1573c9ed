// SPDX-License-Identifier: Apache-2.0
// 3D print jobs: an SKU's OpenSCAD template and the order's parameters, rendered, checked and sliced to G-code.
#include "compiler/print_job_compiler.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "compiler/stl_mesh.hpp"
#include "compiler/subprocess.hpp"
#include "mto/error.hpp"
#include "util/sha256.hpp"
#include "util/utf8.hpp"

namespace mto {

namespace {

using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// Bumped when anything about how a result is produced changes, so old cache entries stop matching.
constexpr const char* kCacheFormat = "mto-print-cache 3";

// Where OpenSCAD looks for libraries after the including file's directory (Debian's package).
const std::vector<fs::path>& systemLibraryDirs() {
    static const std::vector<fs::path> dirs = [] {
        std::vector<fs::path> out;
        if (const char* env = std::getenv("OPENSCADPATH")) {
            std::string list(env);
            std::size_t start = 0;
            while (start <= list.size()) {
                std::size_t end = list.find(':', start);
                if (end == std::string::npos) end = list.size();
                if (end > start) out.emplace_back(list.substr(start, end - start));
                start = end + 1;
            }
        }
        out.emplace_back("/usr/share/openscad/libraries");
        return out;
    }();
    return dirs;
}

// The file references in OpenSCAD source: include <x> / use <x> (followed) and import("x") /
// surface("x") / surface(file = "x") (read as data). Skips comments; other strings are not references.
struct ScadReference {
    std::string path;
    bool source;   // include/use: OpenSCAD code that may reference more files
};

std::vector<ScadReference> scadReferences(const std::string& text) {
    std::vector<ScadReference> out;
    const std::size_t n = text.size();
    auto isIdent = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; };
    auto skipSpace = [&](std::size_t i) {
        while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
        return i;
    };
    // Reads "..." at i (with backslash escapes); returns the position after it, or npos.
    auto readString = [&](std::size_t i, std::string& value) -> std::size_t {
        if (i >= n || text[i] != '"') return std::string::npos;
        for (++i; i < n; ++i) {
            if (text[i] == '\\' && i + 1 < n) {
                value += text[++i];
                continue;
            }
            if (text[i] == '"') return i + 1;
            value += text[i];
        }
        return std::string::npos;
    };
    std::size_t i = 0;
    while (i < n) {
        const char c = text[i];
        if (c == '/' && i + 1 < n && text[i + 1] == '/') {
            i = text.find('\n', i);
            if (i == std::string::npos) break;
            continue;
        }
        if (c == '/' && i + 1 < n && text[i + 1] == '*') {
            i = text.find("*/", i + 2);
            if (i == std::string::npos) break;
            i += 2;
            continue;
        }
        if (c == '"') {
            std::string ignored;
            i = readString(i, ignored);
            if (i == std::string::npos) break;
            continue;
        }
        if (!isIdent(c) || (i > 0 && isIdent(text[i - 1]))) {
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < n && isIdent(text[end])) ++end;
        const std::string word = text.substr(i, end - i);
        i = end;
        if (word == "include" || word == "use") {
            std::size_t j = skipSpace(i);
            if (j < n && text[j] == '<') {
                const std::size_t close = text.find('>', j + 1);
                const std::size_t line = text.find('\n', j + 1);
                if (close != std::string::npos && close < line) {
                    out.push_back({text.substr(j + 1, close - j - 1), true});
                    i = close + 1;
                }
            }
        } else if (word == "import" || word == "surface") {
            std::size_t j = skipSpace(i);
            if (j < n && text[j] == '(') {
                j = skipSpace(j + 1);
                if (text.compare(j, 4, "file") == 0 && !isIdent(j + 4 < n ? text[j + 4] : ' ')) {
                    j = skipSpace(j + 4);
                    if (j < n && text[j] == '=') j = skipSpace(j + 1);
                }
                std::string value;
                const std::size_t after = readString(j, value);
                if (after != std::string::npos) {
                    out.push_back({value, false});
                    i = after;
                }
            }
        }
    }
    return out;
}

std::string readWhole(const fs::path& p, const char* what) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw Error(std::string("cannot read ") + what + " " + p.string() + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw Error(std::string("cannot read ") + what + " " + p.string());
    return ss.str();
}

// Written under a temporary name and renamed, so a reader never sees half a file.
void publish(const fs::path& target, const std::string& data) {
    static std::atomic<unsigned> counter{0};
    const fs::path tmp = target.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << data;
        out.flush();
        if (!out) throw Error("cannot write the print cache file " + tmp.string() + " (disk full or read-only?)");
    }
    std::error_code ec;
    fs::rename(tmp, target, ec);
    if (ec) {
        fs::remove(tmp, ec);
        throw Error("cannot publish the print cache file " + target.string() + ": " + ec.message());
    }
}

std::string shortestNumber(double v) {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, res.ptr);
}

std::string fixed(double v, int digits = 2) {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, digits);
    return std::string(buf, res.ptr);
}

// The end of a tool's output, enough to see its error without flooding a log line.
std::string tail(const SubprocessResult& r) {
    std::string text = r.err.empty() ? r.out : r.err;
    constexpr std::size_t kMax = 1500;
    if (text.size() > kMax) text = "..." + text.substr(text.size() - kMax);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return sanitizeUtf8(text, kMax + 8);
}

std::string firstLineContaining(const std::string& text, const std::string& needle) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.find(needle) != std::string::npos) {
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
            return line.substr(line.find(needle));
        }
    return {};
}

std::string rangeText(const Range& r) {
    if (std::isinf(r.min)) return "at most " + fixed(r.max) + " mm";
    if (std::isinf(r.max)) return "at least " + fixed(r.min) + " mm";
    return fixed(r.min) + " to " + fixed(r.max) + " mm";
}

std::string describeRequest(const PrintRequest& req) {
    std::string s = req.templatePath.filename().string();
    if (req.parameters.empty()) return s;
    s += " (";
    bool first = true;
    for (const auto& [name, value] : req.parameters) {
        if (!first) s += ", ";
        first = false;
        s += name + "=";
        if (const auto* text = std::get_if<std::string>(&value))
            s += "\"" + sanitizeUtf8(*text, 80) + "\"";
        else
            s += shortestNumber(std::get<double>(value));
    }
    return s + ")";
}

// Refuses a model that is not what the order asked for; the hint names the usual cause.
void checkModel(const MeshReport& m, const ModelExpectation& e, const std::string& what) {
    if (m.triangles == 0)
        throw Error(what + ": openscad produced an empty model; check the template and its parameters");
    const std::string raisedHint =
        "; raised text or features are probably missing (font not installed, or characters the font does not have)";
    auto extent = [&](const char* axis, double size, const Range& r, bool raised) {
        if (!r.contains(size))
            throw Error(what + ": model is " + fixed(size) + " mm " + axis + ", expected " + rangeText(r) +
                        (raised && size < r.min ? raisedHint : std::string()));
    };
    extent("wide (X)", m.bbox.maxX - m.bbox.minX, e.width, false);
    extent("deep (Y)", m.bbox.maxY - m.bbox.minY, e.depth, false);
    extent("tall (Z)", m.bbox.maxZ - m.bbox.minZ, e.height, true);
    if (m.shells < e.minShells)
        throw Error(what + ": model has " + std::to_string(m.shells) + " separate bodies, expected at least " +
                    std::to_string(e.minShells));
    if (e.minContours > 0 && m.contours < e.minContours)
        throw Error(what + ": a cut through the model at Z " + fixed(e.contourZ) + " mm shows " +
                    std::to_string(m.contours) + " outlines, expected at least " + std::to_string(e.minContours) +
                    raisedHint);
}

std::string reportJson(const MeshReport& m, const PrintCompileResult& r) {
    boost::json::object o;
    o["triangles"] = m.triangles;
    o["shells"] = m.shells;
    o["contours"] = m.contours;
    o["bbox"] = {m.bbox.minX, m.bbox.minY, m.bbox.minZ, m.bbox.maxX, m.bbox.maxY, m.bbox.maxZ};
    o["volume"] = m.volume;
    o["render_ms"] = r.renderTime.count();
    o["slice_ms"] = r.sliceTime.count();
    return boost::json::serialize(o);
}

MeshReport parseReport(const std::string& text, const fs::path& file) {
    try {
        const boost::json::object o = boost::json::parse(text).as_object();
        MeshReport m;
        m.triangles = static_cast<std::size_t>(o.at("triangles").to_number<std::uint64_t>());
        m.shells = static_cast<std::size_t>(o.at("shells").to_number<std::uint64_t>());
        m.contours = static_cast<std::size_t>(o.at("contours").to_number<std::uint64_t>());
        const auto& b = o.at("bbox").as_array();
        m.bbox = {b.at(0).to_number<double>(), b.at(1).to_number<double>(), b.at(2).to_number<double>(),
                  b.at(3).to_number<double>(), b.at(4).to_number<double>(), b.at(5).to_number<double>()};
        m.volume = o.at("volume").to_number<double>();
        return m;
    } catch (const std::exception& e) {
        throw Error("print cache record " + file.string() + " is damaged (" + e.what() + "); delete it to rebuild");
    }
}

// A scratch directory for one compile, removed with its contents whatever happens.
// A rendered model is kept beside its G-code as <key>.stl, and found by the program's sha256 through
// models/<sha>.stl (a relative link), so a plate can place the part again later. Best effort: a part whose
// model is gone runs on its own.
fs::path modelLink(const fs::path& cacheDir, const std::string& programSha) {
    return cacheDir / "models" / (programSha + ".stl");
}

void linkModel(const fs::path& cacheDir, const std::string& key, const std::string& programSha) {
    std::error_code ec;
    if (!fs::exists(cacheDir / (key + ".stl"), ec)) return;
    const fs::path link = modelLink(cacheDir, programSha);
    if (fs::exists(link, ec)) return;
    fs::create_directories(link.parent_path(), ec);
    fs::remove(link, ec);   // a dangling link left by a trim
    fs::create_symlink(fs::path("..") / (key + ".stl"), link, ec);
}

void keepModel(const fs::path& cacheDir, const std::string& key, const fs::path& stl, const std::string& programSha) {
    std::error_code ec;
    fs::rename(stl, cacheDir / (key + ".stl"), ec);
    if (!ec) linkModel(cacheDir, key, programSha);
}

class WorkDir {
public:
    explicit WorkDir(const fs::path& parent) {
        std::error_code ec;
        fs::create_directories(parent, ec);
        std::string tmpl = (parent / "job-XXXXXX").string();
        if (!::mkdtemp(tmpl.data()))
            throw Error("cannot create a work directory under " + parent.string() + ": " + std::strerror(errno));
        path_ = tmpl;
    }
    ~WorkDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    WorkDir(const WorkDir&) = delete;
    WorkDir& operator=(const WorkDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// Marlin words of one line, comment stripped: {'G', 1}, {'X', 10.5} ...
struct MarlinWord {
    char letter;
    double value;
};

std::vector<MarlinWord> marlinWords(std::string_view line) {
    std::vector<MarlinWord> out;
    if (const auto semi = line.find(';'); semi != std::string_view::npos) line = line.substr(0, semi);
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
        if (i >= line.size()) break;
        const char letter = static_cast<char>(std::toupper(static_cast<unsigned char>(line[i++])));
        double v = 0;
        auto res = std::from_chars(line.data() + i, line.data() + line.size(), v);
        if (res.ec == std::errc()) i = static_cast<std::size_t>(res.ptr - line.data());
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        out.push_back({letter, v});
    }
    return out;
}

// "; estimated printing time (normal mode) = 1d 2h 3m 4s" → seconds; 0 when absent.
double slicerEstimate(std::string_view program) {
    const std::string key = "; estimated printing time (normal mode) = ";
    const auto at = program.find(key);
    if (at == std::string_view::npos) return 0;
    std::string_view rest = program.substr(at + key.size());
    rest = rest.substr(0, rest.find('\n'));
    double total = 0;
    std::size_t i = 0;
    while (i < rest.size()) {
        double v = 0;
        auto res = std::from_chars(rest.data() + i, rest.data() + rest.size(), v);
        if (res.ec != std::errc()) {
            ++i;
            continue;
        }
        i = static_cast<std::size_t>(res.ptr - rest.data());
        const char unit = i < rest.size() ? rest[i] : 's';
        total += v * (unit == 'd' ? 86400 : unit == 'h' ? 3600 : unit == 'm' ? 60 : 1);
    }
    return total;
}

} // namespace

PrintJobCompiler::PrintJobCompiler(PrintToolOptions options) : options_(std::move(options)) {
    if (options_.cacheDir.empty()) throw Error("print job compiler: no cache directory configured");
    std::error_code ec;
    fs::create_directories(options_.cacheDir, ec);
    if (ec || !fs::is_directory(options_.cacheDir))
        throw Error("print job compiler: cannot create the cache directory " + options_.cacheDir.string() + ": " +
                    ec.message());
}

std::string PrintJobCompiler::defineArgument(const std::string& name, const ScadValue& value) {
    bool identifier = !name.empty();
    for (std::size_t i = 0; i < name.size() && identifier; ++i) {
        const char c = name[i];
        const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        const bool digit = c >= '0' && c <= '9';
        identifier =
            alpha || (digit && i > 0 && !(i == 1 && name[0] == '$')) || (c == '$' && i == 0 && name.size() > 1);
    }
    if (!identifier)
        throw Error("template parameter name \"" + sanitizeUtf8(name, 80) +
                    "\" is not an OpenSCAD identifier (letters, digits and _, not starting with a digit)");

    if (const double* number = std::get_if<double>(&value)) {
        if (!std::isfinite(*number)) throw Error("template parameter " + name + " is not a finite number");
        return name + "=" + shortestNumber(*number);
    }
    const std::string& text = std::get<std::string>(value);
    if (const auto bad = findInvalidUtf8(text); bad != std::string::npos)
        throw Error("template parameter " + name + " is not valid UTF-8 (byte " + std::to_string(bad) + ")");
    std::string literal = name + "=\"";
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        // Control characters have no business on a product and would let a value end the statement.
        if (u < 0x20 || u == 0x7f)
            throw Error("template parameter " + name + " contains a control character (code " + std::to_string(u) +
                        "); only printable text is accepted");
        if (c == '"' || c == '\\') literal += '\\';
        literal += c;
    }
    return literal + "\"";
}

std::string PrintJobCompiler::toolVersions() {
    std::lock_guard lock(versionMutex_);
    if (!toolVersions_.empty()) return toolVersions_;
    auto query = [&](std::vector<std::string> argv, const std::string& needle) {
        Subprocess p(argv);
        for (const auto& [k, v] : options_.environment) p.environment(k, v);
        const SubprocessResult r = run(p.timeout(std::chrono::seconds(30)));
        std::string line = firstLineContaining(r.err, needle);
        if (line.empty()) line = firstLineContaining(r.out, needle);
        if (line.empty())
            throw Error("cannot tell the version of " + argv[0] + " (" + r.describe() + "): " + tail(r));
        return line;
    };
    std::vector<std::string> slicer = options_.slicerWrapper;
    slicer.push_back(options_.prusaSlicer);
    slicer.push_back("--help");
    toolVersions_ = query({options_.openscad, "--version"}, "OpenSCAD") + " | " + query(slicer, "PrusaSlicer");
    return toolVersions_;
}

void PrintJobCompiler::checkFonts(const std::vector<std::string>& fonts) const {
    for (const std::string& font : fonts) {
        Subprocess p({options_.fcList, font, "family", "style"});
        for (const auto& [k, v] : options_.environment) p.environment(k, v);
        const SubprocessResult r = run(p.timeout(std::chrono::seconds(30)));
        if (!r.succeeded())
            throw Error("fc-list could not check font \"" + font + "\" (" + r.describe() + "): " + tail(r));
        if (r.out.find_first_not_of(" \n") == std::string::npos)
            throw Error("font \"" + font + "\" is not installed (fc-list finds no match), and OpenSCAD would silently "
                        "render the text in another font or not at all; install it (Debian: fonts-dejavu-core for "
                        "DejaVu) or change the template");
    }
}

PrintCompileResult PrintJobCompiler::compile(const PrintRequest& req) {
    const auto started = SteadyClock::now();
    const std::string what = describeRequest(req);
    const std::string templateText = readWhole(req.templatePath, "OpenSCAD template");
    const std::string profileText = readWhole(req.profilePath, "slicer profile");

    std::vector<std::string> defines;
    for (const auto& [name, value] : req.parameters) defines.push_back(defineArgument(name, value));

    // Lengths before contents, so no two different inputs can run together into the same text.
    std::ostringstream key;
    auto field = [&](const std::string& label, const std::string& data) {
        key << label << ' ' << data.size() << '\n' << data << '\n';
    };
    key << kCacheFormat << '\n';
    field("template", templateText);
    // Files the template reads are part of what it renders: a changed include must not hit an old entry.
    for (const TemplateDependency& dep : templateDependencies(req.templatePath, systemLibraryDirs())) {
        field("reads", dep.reference);
        field("content", dep.resolved.empty() ? std::string("(missing)") : readWhole(dep.resolved, "template dependency"));
    }
    for (const std::string& d : defines) field("define", d);
    field("profile", profileText);
    field("tools", toolVersions());
    // The checks gate what enters the cache, so a stricter expectation must not reuse a looser result.
    const ModelExpectation& e = req.expect;
    field("expect", shortestNumber(e.width.min) + " " + shortestNumber(e.width.max) + " " +
                        shortestNumber(e.depth.min) + " " + shortestNumber(e.depth.max) + " " +
                        shortestNumber(e.height.min) + " " + shortestNumber(e.height.max) + " " +
                        std::to_string(e.minShells) + " " + shortestNumber(e.contourZ) + " " +
                        std::to_string(e.minContours));
    for (const std::string& f : req.requiredFonts) field("font", f);

    PrintCompileResult result;
    result.cacheKey = sha256Hex(key.str());
    const fs::path gcodeFile = options_.cacheDir / (result.cacheKey + ".gcode");
    const fs::path reportFile = options_.cacheDir / (result.cacheKey + ".json");

    // The report is published last, so its presence means the G-code beside it is complete.
    if (fs::exists(reportFile) && fs::exists(gcodeFile)) {
        result.mesh = parseReport(readWhole(reportFile, "print cache record"), reportFile);
        std::error_code touched;   // the record's time is its last use, for trimming (best effort)
        fs::last_write_time(reportFile, fs::file_time_type::clock::now(), touched);
        result.artifact = artifactFromGcode(readWhole(gcodeFile, "cached G-code"));
        linkModel(options_.cacheDir, result.cacheKey, result.artifact.sha256);
        result.cacheHit = true;
        result.totalTime = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started);
        return result;
    }

    checkFonts(req.requiredFonts);
    WorkDir work(options_.cacheDir / "work");
    const fs::path stl = work.path() / "model.stl";
    const fs::path gcode = work.path() / "model.gcode";

    // --hardwarnings: a template that warns (unknown variable, bad argument) is a template bug, and
    // refusing is cheaper than a misprint.
    std::vector<std::string> render = {options_.openscad, "--hardwarnings", "--export-format", "binstl", "-o",
                                       stl.string()};
    for (const std::string& d : defines) {
        render.push_back("-D");
        render.push_back(d);
    }
    render.push_back(fs::absolute(req.templatePath).string());
    Subprocess openscad(render);
    openscad.workingDirectory(work.path()).timeout(options_.renderTimeout);
    for (const auto& [k, v] : options_.environment) openscad.environment(k, v);
    const SubprocessResult rendered = run(openscad);
    result.renderTime = rendered.duration;
    if (rendered.timedOut)
        throw Error(what + ": openscad " + rendered.describe() + "; the limit is " +
                    std::to_string(options_.renderTimeout.count()) +
                    " ms: simplify the template or raise the render timeout");
    if (!rendered.succeeded())
        throw Error(what + ": openscad failed (" + rendered.describe() + "): " + tail(rendered));
    if (!fs::exists(stl) || fs::file_size(stl) == 0)
        throw Error(what + ": openscad exited 0 but wrote no model (" + tail(rendered) + ")");

    const StlMesh mesh = StlMesh::load(stl);
    MeshReport& m = result.mesh;
    m.triangles = mesh.triangleCount();
    m.shells = mesh.shellCount();
    m.bbox = mesh.bbox();
    m.volume = mesh.volume();
    m.contours = e.minContours > 0 ? mesh.contoursAt(e.contourZ) : 0;
    checkModel(m, e, what);

    std::vector<std::string> slice = options_.slicerWrapper;
    for (const std::string& a :
         {options_.prusaSlicer, std::string("--export-gcode"), std::string("--load"),
          fs::absolute(req.profilePath).string(), std::string("-o"), gcode.string(), stl.string()})
        slice.push_back(a);
    Subprocess slicer(slice);
    slicer.workingDirectory(work.path()).timeout(options_.sliceTimeout);
    for (const auto& [k, v] : options_.environment) slicer.environment(k, v);
    const SubprocessResult sliced = run(slicer);
    result.sliceTime = sliced.duration;
    if (sliced.timedOut)
        throw Error(what + ": prusa-slicer " + sliced.describe() + "; the limit is " +
                    std::to_string(options_.sliceTimeout.count()) +
                    " ms: simplify the model or raise the slice timeout");
    if (!sliced.succeeded() || !fs::exists(gcode) || fs::file_size(gcode) == 0)
        throw Error(what + ": prusa-slicer failed (" + sliced.describe() + ") with profile " +
                    req.profilePath.string() + ": " + tail(sliced));

    std::string program = readWhole(gcode, "sliced G-code");
    result.artifact = artifactFromGcode(program);
    if (result.artifact.workMm <= 0)
        throw Error(what + ": prusa-slicer produced G-code without extruding moves (" + tail(sliced) + ")");
    publish(gcodeFile, program);
    keepModel(options_.cacheDir, result.cacheKey, stl, result.artifact.sha256);
    publish(reportFile, reportJson(m, result));
    if (options_.cacheMaxBytes > 0) trimCache(options_.cacheDir, options_.cacheMaxBytes);
    result.totalTime = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started);
    return result;
}

std::vector<TemplateDependency> PrintJobCompiler::templateDependencies(const fs::path& templatePath,
                                                                      const std::vector<fs::path>& libraryDirs) {
    constexpr std::size_t kMaxFiles = 256;
    std::vector<TemplateDependency> out;
    std::vector<fs::path> pending{templatePath};
    std::vector<fs::path> seen{fs::weakly_canonical(templatePath)};
    while (!pending.empty()) {
        const fs::path file = pending.back();
        pending.pop_back();
        for (const ScadReference& ref : scadReferences(readWhole(file, "OpenSCAD source"))) {
            TemplateDependency dep{ref.path, {}};
            std::vector<fs::path> candidates;
            if (fs::path(ref.path).is_absolute()) candidates.push_back(ref.path);
            else {
                candidates.push_back(file.parent_path() / ref.path);
                for (const fs::path& dir : libraryDirs) candidates.push_back(dir / ref.path);
            }
            for (const fs::path& candidate : candidates) {
                std::error_code ec;
                if (fs::is_regular_file(candidate, ec)) {
                    dep.resolved = candidate;
                    break;
                }
            }
            if (!dep.resolved.empty()) {
                const fs::path canonical = fs::weakly_canonical(dep.resolved);
                if (std::find(seen.begin(), seen.end(), canonical) != seen.end()) continue;
                seen.push_back(canonical);
                if (ref.source) pending.push_back(dep.resolved);
            }
            out.push_back(std::move(dep));
            if (out.size() > kMaxFiles)
                throw Error("OpenSCAD template " + templatePath.string() + " reads more than " + std::to_string(kMaxFiles) +
                            " files; a template that large is not supported");
        }
    }
    return out;
}

std::size_t PrintJobCompiler::trimCache(const fs::path& cacheDir, std::uint64_t maxBytes) {
    struct Entry {
        fs::path report, gcode;
        fs::file_time_type used;
        std::uint64_t bytes = 0;
    };
    std::vector<Entry> entries;
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto& f : fs::directory_iterator(cacheDir, ec)) {
        if (f.path().extension() != ".json") continue;
        Entry e{f.path(), fs::path(f.path()).replace_extension(".gcode"), fs::last_write_time(f.path(), ec), 0};
        if (ec) continue;
        e.bytes = fs::file_size(e.report, ec);
        if (ec) continue;
        const std::uint64_t gcodeBytes = fs::file_size(e.gcode, ec);
        e.bytes += ec ? 0 : gcodeBytes;
        const std::uint64_t modelBytes = fs::file_size(fs::path(e.report).replace_extension(".stl"), ec);
        e.bytes += ec ? 0 : modelBytes;
        total += e.bytes;
        entries.push_back(std::move(e));
    }
    if (total <= maxBytes) return 0;
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.used < b.used; });
    std::size_t removed = 0;
    for (const Entry& e : entries) {
        if (total <= maxBytes) break;
        // The record goes first: without it the G-code beside it is never read, even if removing it fails.
        if (!fs::remove(e.report, ec) || ec) continue;
        fs::remove(e.gcode, ec);
        fs::remove(fs::path(e.report).replace_extension(".stl"), ec);
        total -= e.bytes;
        ++removed;
    }
    // Links to models trimmed away.
    for (const auto& f : fs::directory_iterator(cacheDir / "models", ec))
        if (!fs::exists(f.path(), ec)) fs::remove(f.path(), ec);
    return removed;
}

std::optional<fs::path> PrintJobCompiler::modelOf(const std::string& programSha) const {
    if (programSha.empty() || programSha.find('/') != std::string::npos) return std::nullopt;
    const fs::path link = modelLink(options_.cacheDir, programSha);
    std::error_code ec;
    if (!fs::is_regular_file(link, ec)) return std::nullopt;   // follows the link: a trimmed model is none
    return link;
}

std::map<std::string, PlacedPart> PrintJobCompiler::objectExtents(const std::string& program) {
    static constexpr std::string_view kStart = "; printing object ";
    static constexpr std::string_view kStop = "; stop printing object";
    std::map<std::string, PlacedPart> out;
    std::map<std::string, bool> seen;
    std::string current;
    double x = 0, y = 0;
    std::size_t begin = 0;
    while (begin < program.size()) {
        std::size_t end = program.find('\n', begin);
        if (end == std::string::npos) end = program.size();
        std::string_view line = std::string_view(program).substr(begin, end - begin);
        begin = end + 1;
        if (line.substr(0, kStart.size()) == kStart) {
            std::string_view name = line.substr(kStart.size());
            const auto id = name.rfind(" id:");
            current = std::string(id == std::string_view::npos ? name : name.substr(0, id));
            continue;
        }
        if (line.substr(0, kStop.size()) == kStop) {
            current.clear();
            continue;
        }
        const auto ws = marlinWords(line);
        if (ws.empty() || ws[0].letter != 'G' || (ws[0].value != 0 && ws[0].value != 1)) continue;
        double toX = x, toY = y, e = 0;
        for (std::size_t i = 1; i < ws.size(); ++i) {
            if (ws[i].letter == 'X') toX = ws[i].value;
            if (ws[i].letter == 'Y') toY = ws[i].value;
            if (ws[i].letter == 'E') e = ws[i].value;
        }
        if (!current.empty() && e > 0 && (toX != x || toY != y)) {
            PlacedPart& p = out[current];
            if (!seen[current]) {
                p = {std::min(x, toX), std::min(y, toY), std::max(x, toX), std::max(y, toY)};
                seen[current] = true;
            }
            p.minX = std::min({p.minX, x, toX});
            p.minY = std::min({p.minY, y, toY});
            p.maxX = std::max({p.maxX, x, toX});
            p.maxY = std::max({p.maxY, y, toY});
        }
        x = toX;
        y = toY;
    }
    return out;
}

PlateResult PrintJobCompiler::compilePlate(const PlateRequest& req) {
    if (req.parts.empty()) throw Error("a plate needs at least one part");
    const std::string profileText = readWhole(req.profilePath, "slicer profile");
    std::ostringstream key;
    auto field = [&](const std::string& label, const std::string& data) {
        key << label << ' ' << data.size() << '\n' << data << '\n';
    };
    key << kCacheFormat << "\nplate\n";
    for (const PlatePart& p : req.parts) field("model", sha256Hex(readWhole(p.model, "part model")));
    field("profile", profileText);
    field("bed", shortestNumber(req.bedX) + "x" + shortestNumber(req.bedY));
    field("tools", toolVersions());
    const std::string cacheKey = "plate-" + sha256Hex(key.str());
    const fs::path gcodeFile = options_.cacheDir / (cacheKey + ".gcode");
    const fs::path recordFile = options_.cacheDir / (cacheKey + ".json");
    auto partName = [](std::size_t i) { return "part-" + std::to_string(i) + ".stl"; };

    PlateResult result;
    std::string program;
    if (fs::exists(recordFile) && fs::exists(gcodeFile)) {
        program = readWhole(gcodeFile, "cached plate G-code");
        std::error_code touched;
        fs::last_write_time(recordFile, fs::file_time_type::clock::now(), touched);
        result.cacheHit = true;
    } else {
        WorkDir work(options_.cacheDir / "work");
        const fs::path gcode = work.path() / "plate.gcode";
        std::vector<std::string> slice = options_.slicerWrapper;
        for (const std::string& a : {options_.prusaSlicer, std::string("--export-gcode"), std::string("--load"),
                                     fs::absolute(req.profilePath).string(), std::string("--merge"),
                                     std::string("--gcode-label-objects")})
            slice.push_back(a);
        if (req.bedX > 0 && req.bedY > 0) {
            const std::string x = fixed(req.bedX), y = fixed(req.bedY);
            slice.push_back("--bed-shape");
            slice.push_back("0x0," + x + "x0," + x + "x" + y + ",0x" + y);
        }
        slice.push_back("-o");
        slice.push_back(gcode.string());
        // Named by position, so the labels in the program say which part is which.
        for (std::size_t i = 0; i < req.parts.size(); ++i) {
            std::error_code ec;
            fs::copy_file(req.parts[i].model, work.path() / partName(i), ec);
            if (ec) throw Error("cannot copy the model " + req.parts[i].model.string() + " of plate part " +
                                std::to_string(i) + ": " + ec.message());
            slice.push_back(partName(i));
        }
        Subprocess slicer(slice);
        slicer.workingDirectory(work.path()).timeout(options_.sliceTimeout);
        for (const auto& [k, v] : options_.environment) slicer.environment(k, v);
        const SubprocessResult sliced = run(slicer);
        const std::string what = "a plate of " + std::to_string(req.parts.size()) + " parts";
        if (sliced.timedOut)
            throw Error(what + ": prusa-slicer " + sliced.describe() + "; the limit is " +
                        std::to_string(options_.sliceTimeout.count()) + " ms");
        const std::string said = sliced.err + "\n" + sliced.out;
        if (said.find("could not fit") != std::string::npos || said.find("outside of the print volume") != std::string::npos ||
            said.find("outside the print volume") != std::string::npos)
            throw PlateDoesNotFit(what + " does not fit on the " + fixed(req.bedX, 0) + " x " + fixed(req.bedY, 0) +
                                  " mm bed (prusa-slicer cannot arrange them: " + firstLineContaining(said, "could not") + ")");
        if (!sliced.succeeded() || !fs::exists(gcode) || fs::file_size(gcode) == 0)
            throw Error(what + ": prusa-slicer failed (" + sliced.describe() + ") with profile " +
                        req.profilePath.string() + ": " + tail(sliced));
        program = readWhole(gcode, "sliced plate G-code");
    }
    const auto extents = objectExtents(program);
    for (std::size_t i = 0; i < req.parts.size(); ++i) {
        auto at = extents.find(partName(i));
        if (at == extents.end())
            throw Error("the plate's program prints nothing of part " + std::to_string(i) +
                        " (no object labelled " + partName(i) + ")");
        result.placed.push_back(at->second);
    }
    result.artifact = artifactFromGcode(program);
    if (!result.cacheHit) {
        publish(gcodeFile, program);
        publish(recordFile, "{\"parts\":" + std::to_string(req.parts.size()) + "}\n");
        if (options_.cacheMaxBytes > 0) trimCache(options_.cacheDir, options_.cacheMaxBytes);
    }
    return result;
}

JobArtifact PrintJobCompiler::compilePreSliced(const fs::path& gcodePath) const {
    JobArtifact a = artifactFromGcode(readWhole(gcodePath, "pre-sliced G-code"));
    if (a.workMm <= 0)
        throw Error("pre-sliced G-code " + gcodePath.string() +
                    " has no extruding moves (G1 with a positive E); is it really a sliced print?");
    return a;
}

JobArtifact PrintJobCompiler::artifactFromGcode(std::string program) {
    JobArtifact a;
    a.capability = "fdm";
    a.format = "gcode-marlin";
    double pos[4] = {0, 0, 0, 0};   // X Y Z E
    bool relative = false, relativeE = false, seen = false;
    auto include = [&](const double* p) {
        if (!seen) {
            a.bbox = {p[0], p[1], p[2], p[0], p[1], p[2]};
            seen = true;
        }
        a.bbox.minX = std::min(a.bbox.minX, p[0]);
        a.bbox.minY = std::min(a.bbox.minY, p[1]);
        a.bbox.minZ = std::min(a.bbox.minZ, p[2]);
        a.bbox.maxX = std::max(a.bbox.maxX, p[0]);
        a.bbox.maxY = std::max(a.bbox.maxY, p[1]);
        a.bbox.maxZ = std::max(a.bbox.maxZ, p[2]);
    };
    auto axis = [](char c) { return c == 'X' ? 0 : c == 'Y' ? 1 : c == 'Z' ? 2 : c == 'E' ? 3 : -1; };

    std::size_t begin = 0;
    while (begin < program.size()) {
        std::size_t end = program.find('\n', begin);
        if (end == std::string::npos) end = program.size();
        ++a.lines;
        const auto ws = marlinWords(std::string_view(program).substr(begin, end - begin));
        begin = end + 1;
        if (ws.empty()) continue;
        const char letter = ws[0].letter;
        const int code = static_cast<int>(ws[0].value);
        if (letter == 'G' && code >= 0 && code <= 3) {
            // Arcs (G2/G3) are measured as chords: PrusaSlicer 2.5 does not emit them.
            double to[4] = {pos[0], pos[1], pos[2], pos[3]};
            bool moved = false;
            for (std::size_t i = 1; i < ws.size(); ++i) {
                const int k = axis(ws[i].letter);
                if (k < 0) continue;
                const bool rel = k == 3 ? relativeE : relative;
                to[k] = rel ? pos[k] + ws[i].value : ws[i].value;
                moved = moved || k < 3;
            }
            const double dist = std::sqrt((to[0] - pos[0]) * (to[0] - pos[0]) + (to[1] - pos[1]) * (to[1] - pos[1]) +
                                          (to[2] - pos[2]) * (to[2] - pos[2]));
            (to[3] - pos[3] > 0 && dist > 0 ? a.workMm : a.travelMm) += dist;
            std::copy(std::begin(to), std::end(to), std::begin(pos));
            if (moved) include(pos);
        } else if (letter == 'G' && code == 28) {
            bool any = false;
            for (std::size_t i = 1; i < ws.size(); ++i)
                if (const int k = axis(ws[i].letter); k >= 0 && k < 3) pos[k] = 0, any = true;
            if (!any) pos[0] = pos[1] = pos[2] = 0;
            include(pos);
        } else if (letter == 'G' && code == 90) {
            relative = relativeE = false;
        } else if (letter == 'G' && code == 91) {
            relative = relativeE = true;
        } else if (letter == 'G' && code == 92) {
            for (std::size_t i = 1; i < ws.size(); ++i)
                if (const int k = axis(ws[i].letter); k >= 0) pos[k] = ws[i].value;
        } else if (letter == 'M' && code == 82) {
            relativeE = false;
        } else if (letter == 'M' && code == 83) {
            relativeE = true;
        }
    }
    a.estimatedSeconds = slicerEstimate(program);
    a.sha256 = sha256Hex(program);
    a.program = std::move(program);
    return a;
}

} // namespace mto
