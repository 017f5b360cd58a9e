#include "mirror_refspecs.hpp"

#include <algorithm>

#include "mgit/basics/ascii.hpp"

namespace mgit::git {
namespace {

using basics::starts_with;

constexpr std::string_view kRefs = "refs/";

/// git's rules for one ref name component (git-check-ref-format): no control characters,
/// space or `~^:?*[\`, no `..` or `@{`, not starting with `.`, not ending with `.lock`.
bool valid_component(std::string_view part) {
  if (part.empty() || part.front() == '.' || part.ends_with(".lock")) return false;
  if (part.find("..") != std::string_view::npos || part.find("@{") != std::string_view::npos) {
    return false;
  }
  return std::none_of(part.begin(), part.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f ||
           std::string_view("~^:?*[\\").find(c) != std::string_view::npos;
  });
}

}  // namespace

bool is_reserved_ref(std::string_view ref) {
  return starts_with(ref, kReservedNamespace) ||
         ref == kReservedNamespace.substr(0, kReservedNamespace.size() - 1);
}

std::string RefMapping::refspec() const {
  return glob ? "+" + src + "*:" + dst + "*" : "+" + src + ":" + dst;
}

std::optional<std::string> RefMapping::to_local(std::string_view remote_ref) const {
  if (!glob) return remote_ref == src ? std::optional<std::string>(dst) : std::nullopt;
  if (!starts_with(remote_ref, src) || remote_ref.size() == src.size()) return std::nullopt;
  return dst + std::string(remote_ref.substr(src.size()));
}

std::optional<std::string> RefMapping::to_remote(std::string_view local_ref) const {
  if (!glob) return local_ref == dst ? std::optional<std::string>(src) : std::nullopt;
  if (!starts_with(local_ref, dst) || local_ref.size() == dst.size()) return std::nullopt;
  return src + std::string(local_ref.substr(dst.size()));
}

MirrorRefspecs mirror_refspecs(const std::vector<std::string>& advertised) {
  MirrorRefspecs out;
  for (const std::string& name : advertised) {
    if (name == "HEAD" || name.ends_with("^{}")) continue;
    if (!starts_with(name, kRefs) || is_reserved_ref(name)) {
      out.skipped.push_back(name);
      continue;
    }
    const std::string_view rest = std::string_view(name).substr(kRefs.size());
    const auto slash = rest.find('/');
    const std::string_view first = rest.substr(0, slash);
    if (!valid_component(first)) {
      out.skipped.push_back(name);
      continue;
    }
    RefMapping mapping;
    if (slash == std::string_view::npos) {
      mapping = RefMapping{name, name, false};
    } else {
      const std::string prefix = std::string(kRefs) + std::string(first) + "/";
      mapping = RefMapping{prefix, prefix, true};
    }
    out.mappings.push_back(std::move(mapping));
  }
  std::sort(out.mappings.begin(), out.mappings.end(),
            [](const RefMapping& a, const RefMapping& b) { return a.src < b.src; });
  out.mappings.erase(std::unique(out.mappings.begin(), out.mappings.end(),
                                 [](const RefMapping& a, const RefMapping& b) {
                                   return a.src == b.src && a.glob == b.glob;
                                 }),
                     out.mappings.end());
  return out;
}

bool in_namespaces(std::string_view ref, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& prefix) { return starts_with(ref, prefix); });
}

}  // namespace mgit::git
