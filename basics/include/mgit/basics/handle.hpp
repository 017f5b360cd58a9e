#pragma once

#include <memory>
#include <type_traits>

namespace mgit::basics {

/// The one owner for C library handles: a `unique_ptr` whose deleter is the library's free
/// function, so each handle type is one line (`using RepositoryPtr = Handle<git_repository,
/// &git_repository_free>;`) and costs no more than the raw pointer.
template <class T, void (*Free)(T*)>
using Handle = std::unique_ptr<T, std::integral_constant<decltype(Free), Free>>;

}  // namespace mgit::basics
