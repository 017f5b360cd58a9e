#include "policy_stream.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <git2.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "mgit/basics/file_descriptor.hpp"
#include "mgit/basics/handle.hpp"

namespace mgit::git {
namespace {

using Clock = std::chrono::steady_clock;

thread_local const ConnectScope* current_scope = nullptr;

/// A C string owned like any other C handle; one pointer wide, so the stream keeps libgit2's
/// layout.
class OwnedCString {
 public:
  explicit OwnedCString(const char* text) : text_(strdup(text == nullptr ? "" : text)) {}
  ~OwnedCString() { std::free(text_); }
  OwnedCString(const OwnedCString&) = delete;
  OwnedCString& operator=(const OwnedCString&) = delete;
  [[nodiscard]] const char* get() const { return text_; }

 private:
  char* text_;
};

/// libgit2 1.5's private `git_socket_stream` (src/libgit2/streams/socket.h), verbatim. The
/// ssh transport takes whatever GIT_STREAM_STANDARD made for this type and hands `s` to
/// libssh2 (transports/ssh.c, `_git_ssh_session_create`), so ours must be laid out alike.
struct LibgitSocketStream {
  git_stream parent;
  char* host;
  char* port;
  int s;  // GIT_SOCKET on POSIX
};

/// The registered stream: libgit2's layout, with owning members of the same size.
struct PolicyStream {
  git_stream parent;
  OwnedCString host;
  OwnedCString port;
  basics::FileDescriptor s;

  PolicyStream(const char* host_text, const char* port_text)
      : parent{}, host(host_text), port(port_text) {}
};

static_assert(std::is_standard_layout_v<PolicyStream>);
static_assert(offsetof(PolicyStream, parent) == offsetof(LibgitSocketStream, parent));
static_assert(offsetof(PolicyStream, host) == offsetof(LibgitSocketStream, host));
static_assert(offsetof(PolicyStream, port) == offsetof(LibgitSocketStream, port));
static_assert(offsetof(PolicyStream, s) == offsetof(LibgitSocketStream, s));
static_assert(sizeof(basics::FileDescriptor) == sizeof(int));
static_assert(sizeof(PolicyStream) == sizeof(LibgitSocketStream));

PolicyStream& self(git_stream* stream) { return *reinterpret_cast<PolicyStream*>(stream); }

int fail(const std::string& message) {
  git_error_set_str(GIT_ERROR_NET, message.c_str());
  return -1;
}

int deny(ConnectLog& log, security::NetworkDenial denial) {
  git_error_set_str(GIT_ERROR_NET, denial.message.c_str());
  log.denial = std::move(denial);
  return -1;
}

std::optional<int> port_number(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  int value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value < 1 || value > 65535) return std::nullopt;
  return value;
}

std::optional<security::NetworkDenial> check_endpoint(const ConnectPolicy& policy,
                                                      const Endpoint& asked) {
  if (asked.host != policy.job.host ||
      (policy.follow_redirects == FollowRedirects::kNone && asked.port != policy.job.port)) {
    const bool none = policy.follow_redirects == FollowRedirects::kNone;
    return security::NetworkDenial{
        "redirect",
        fmt::format(
            "connection to {}:{} refused: follow_redirects = {} allows only {} {}", asked.host,
            asked.port, none ? "none" : "same_host",
            none ? "the job URL's endpoint" : "the job URL's host",
            none ? fmt::format("{}:{}", policy.job.host, policy.job.port) : policy.job.host)};
  }
  return policy.network->check_host(asked.host);
}

using AddrinfoPtr = basics::Handle<addrinfo, &freeaddrinfo>;

/// Connects to one address within `deadline`; an invalid descriptor when it does not answer.
/// `refused`: set when the address actively refused (ECONNREFUSED), left alone otherwise.
basics::FileDescriptor connect_one(const addrinfo& address, Clock::time_point deadline,
                                   bool& refused) {
  basics::FileDescriptor fd(socket(
      address.ai_family, address.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, address.ai_protocol));
  if (!fd) return fd;
  if (connect(fd.get(), address.ai_addr, address.ai_addrlen) != 0) {
    if (errno == ECONNREFUSED) refused = true;
    if (errno != EINPROGRESS) return {};
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return {};
      pollfd poll_fd{fd.get(), POLLOUT, 0};
      const int ready = poll(&poll_fd, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return {};
      break;
    }
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
      if (error == ECONNREFUSED) refused = true;
      return {};
    }
  }
  // Blocking from here, as libgit2 and libssh2 expect, but never forever.
  const int flags = fcntl(fd.get(), F_GETFL);
  if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) return {};
  return fd;
}

bool set_timeouts(int fd, std::chrono::milliseconds timeout) {
  timeval value{};
  value.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  value.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, sizeof(value)) == 0 &&
         setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, sizeof(value)) == 0;
}

int stream_connect(git_stream* stream) {
  PolicyStream& st = self(stream);
  const ConnectScope* scope = current_scope;
  if (scope == nullptr) {
    return fail(
        "no network policy is in effect on this thread; mgitd connects nowhere without one");
  }
  const ConnectPolicy& policy = scope->policy();
  ConnectLog& log = scope->log();
  const std::string host = security::normalize_host(st.host.get());
  const auto port = port_number(st.port.get());
  if (!port) {
    return deny(log, {"port", fmt::format("connection to {} refused: port '{}' is not a number "
                                          "1..65535",
                                          host, st.port.get())});
  }
  const Endpoint asked{host, *port};
  // Only the proxy libgit2 tunnels through is exempt, never a job that names the proxy's
  // host:port itself: that would reach an internal endpoint unchecked.
  const bool to_proxy = policy.proxy && asked == *policy.proxy && !(asked == policy.job);
  if (!to_proxy) {
    if (auto denial = check_endpoint(policy, asked)) return deny(log, std::move(*denial));
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  // The resolver gets the host as libgit2 gave it (minus brackets): the same name is what
  // TLS and the ssh host key are checked against.
  if (getaddrinfo(host.c_str(), st.port.get(), &hints, &raw) != 0) {
    return fail(fmt::format("cannot resolve host {}", host));
  }
  const AddrinfoPtr addresses(raw);
  if (!to_proxy) {
    // Every address first: a name with one public and one internal address is refused
    // whole, whichever the resolver would have listed first.
    for (const addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
      security::IpAddress ip;
      if (a->ai_family == AF_INET) {
        std::memcpy(ip.bytes.data(), &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr,
                    4);
      } else if (a->ai_family == AF_INET6) {
        ip.v6 = true;
        std::memcpy(ip.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr,
                    16);
      } else {
        return deny(log, {"address-family",
                          fmt::format("host {} resolved to an address that is neither IPv4 nor "
                                      "IPv6",
                                      host)});
      }
      if (auto denial = policy.network->check_address(host, ip)) {
        return deny(log, std::move(*denial));
      }
    }
  }
  const auto deadline = Clock::now() + policy.connect_timeout;
  bool every_address_refused = addresses != nullptr;
  for (const addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
    bool refused = false;
    basics::FileDescriptor fd = connect_one(*a, deadline, refused);
    every_address_refused = every_address_refused && refused;
    if (!fd) continue;
    if (!set_timeouts(fd.get(), policy.socket_timeout)) continue;
    st.s = std::move(fd);
    log.refused = false;
    log.connected = asked;
    log.via_proxy = to_proxy;
    return 0;
  }
  // One message for refused, unreachable and silent: a result must not tell them apart. The
  // log keeps the difference for the classifier: an ssh server refusing connections is
  // throttling (docs/rate-limits.md); such a host passed the policy already.
  log.refused = every_address_refused;
  return fail(fmt::format("cannot connect to {}:{}", host, *port));
}

ssize_t stream_read(git_stream* stream, void* data, size_t length) {
  PolicyStream& st = self(stream);
  while (true) {
    const ssize_t got = recv(st.s.get(), data, length, 0);
    if (got >= 0) return got;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return fail(fmt::format("no data from {} within the socket timeout", st.host.get()));
    }
    return fail(
        fmt::format("error receiving data from {}: {}", st.host.get(), std::strerror(errno)));
  }
}

ssize_t stream_write(git_stream* stream, const char* data, size_t length, int flags) {
  PolicyStream& st = self(stream);
  while (true) {
    // MSG_NOSIGNAL: a peer that closed the connection is an error, not a SIGPIPE.
    const ssize_t sent = send(st.s.get(), data, length, flags | MSG_NOSIGNAL);
    if (sent >= 0) return sent;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return fail(fmt::format("could not send to {} within the socket timeout", st.host.get()));
    }
    return fail(fmt::format("error sending data to {}: {}", st.host.get(), std::strerror(errno)));
  }
}

int stream_close(git_stream* stream) {
  self(stream).s.reset();
  return 0;
}

void stream_free(git_stream* stream) { delete &self(stream); }

int stream_new(git_stream** out, const char* host, const char* port) {
  auto* st = new (std::nothrow) PolicyStream(host, port);
  if (st == nullptr || st->host.get() == nullptr || st->port.get() == nullptr) {
    delete st;
    git_error_set_oom();
    return -1;
  }
  st->parent.version = GIT_STREAM_VERSION;
  st->parent.connect = &stream_connect;
  st->parent.read = &stream_read;
  st->parent.write = &stream_write;
  st->parent.close = &stream_close;
  st->parent.free = &stream_free;
  *out = &st->parent;
  return 0;
}

}  // namespace

ConnectScope::ConnectScope(const ConnectPolicy& policy, ConnectLog& log)
    : policy_(policy), log_(log), previous_(current_scope) {
  current_scope = this;
}

ConnectScope::~ConnectScope() { current_scope = previous_; }

tl::expected<void, std::string> register_policy_stream() {
  git_stream_registration registration{};
  registration.version = GIT_STREAM_VERSION;
  registration.init = &stream_new;
  if (git_stream_register(GIT_STREAM_STANDARD, &registration) < 0) {
    const git_error* error = git_error_last();
    return tl::make_unexpected(
        std::string("cannot register libgit2's socket stream: ") +
        (error != nullptr && error->message != nullptr ? error->message : "unknown error"));
  }
  return {};
}

}  // namespace mgit::git
