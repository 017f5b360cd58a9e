#pragma once

#include <git2.h>

#include <string>

#include "mgit/basics/handle.hpp"

namespace mgit::git {

// Owners of the libgit2 objects git/ uses; one line per type, freed by libgit2's own function.
using RepositoryPtr = basics::Handle<git_repository, &git_repository_free>;
using RemotePtr = basics::Handle<git_remote, &git_remote_free>;
using ReferencePtr = basics::Handle<git_reference, &git_reference_free>;
using ObjectPtr = basics::Handle<git_object, &git_object_free>;
using ConfigPtr = basics::Handle<git_config, &git_config_free>;
using TreePtr = basics::Handle<git_tree, &git_tree_free>;
using OdbPtr = basics::Handle<git_odb, &git_odb_free>;
using DiffPtr = basics::Handle<git_diff, &git_diff_free>;
using ReferenceIteratorPtr = basics::Handle<git_reference_iterator, &git_reference_iterator_free>;

/// git_buf is a value type with its own dispose function, so it gets its own owner.
struct Buffer {
  git_buf buf = GIT_BUF_INIT;
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { git_buf_dispose(&buf); }
  [[nodiscard]] std::string str() const {
    return buf.ptr == nullptr ? std::string() : std::string(buf.ptr, buf.size);
  }
};

/// Hex form of a commit id; empty for none or the zero id (a ref created or deleted).
inline std::string oid_hex(const git_oid* oid) {
  if (oid == nullptr || git_oid_is_zero(oid) != 0) return {};
  char text[GIT_OID_HEXSZ + 1];
  git_oid_tostr(text, sizeof text, oid);
  return text;
}

}  // namespace mgit::git
