// Loading a config: file -> tokens -> blocks -> validated model.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "daemon/config/model.h"

namespace vigil::config {

struct Diagnostic {
    SourceLoc where;          // file and line the problem is on
    std::string message;      // e.g. "virtual_router_id 300 out of range (1-255) in vrrp_instance VI_1"
    std::string str() const;  // "file:line: message"
};

struct LoadResult {
    std::shared_ptr<const Config> config;  // null when there are errors
    std::vector<Diagnostic> errors;        // every error found, in file order
    std::vector<Diagnostic> warnings;      // e.g. an interface missing on this machine
    bool ok() const { return config != nullptr; }
};

// Reads `path` and everything it includes. Never throws; never returns a
// partial config.
LoadResult load_file(const std::string& path);

// Same, from text already in memory; `name` is used in diagnostics and as the
// base for relative includes.
LoadResult load_text(const std::string& text, const std::string& name);

// What each child runs: the vrrp child global_defs, vrrp scripts, sync groups
// and instances; the check child global_defs, virtual server groups and
// virtual servers. Core sends each child only its part on reload.
enum class ConfigPart { All, Vrrp, Check };

// The normalised config: includes expanded, defaults written out, one keyword
// per line. load_text(dump(c)) gives a model equal to c (for a part: equal to
// c with the other part's sections empty).
std::string dump(const Config& config, ConfigPart part = ConfigPart::All);

// Whether a and b agree on everything `part` covers (source lines aside).
bool same_part(const Config& a, const Config& b, ConfigPart part);

}  // namespace vigil::config
