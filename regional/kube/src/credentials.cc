#include "regional/kube/credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"

extern char** environ;

namespace senren::regional::kube {
namespace {

using Json = nlohmann::json;

uint64_t NextGeneration() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

std::string UserOf(const KubeConfig& config) {
  return absl::StrCat("user \"", config.user.empty() ? "(unnamed)" : config.user, "\"");
}

// --- a token in the kubeconfig (or none) -------------------------------------------------

class StaticCredentials : public CredentialSource {
 public:
  explicit StaticCredentials(std::string token) {
    credential_.token = std::move(token);
    credential_.generation = NextGeneration();
  }
  absl::StatusOr<Credential> Get() override { return credential_; }
  bool Unauthorized(const Credential&) override { return false; }

 private:
  Credential credential_;
};

// --- a token file ------------------------------------------------------------------------

// What stat() says of the file; a projected token rotates by an atomic symlink swap (new
// inode), an in-place rewrite changes mtime or size.
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

std::optional<FileStamp> StampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{st.st_dev, st.st_ino, st.st_size,
                   int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
}

class TokenFileCredentials : public CredentialSource {
 public:
  TokenFileCredentials(std::string user, std::string path, CredentialOptions options)
      : user_(std::move(user)), path_(std::move(path)), options_(std::move(options)) {}

  absl::StatusOr<Credential> Get() override {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.now();
    const std::optional<FileStamp> stamp = StampOf(path_);
    const bool fresh = current_.has_value() && stamp.has_value() && *stamp == stamp_ &&
                       now - read_at_ < options_.token_file_max_age;
    if (fresh) return *current_;
    absl::Status read = ReadLocked(now, stamp);
    if (read.ok()) return *current_;
    // client-go keeps using the last token when the file cannot be read for a moment
    // (kubelet swapping the projected volume's symlink).
    if (current_.has_value()) {
      spdlog::warn("{}; using the previous token", std::string(read.message()));
      return *current_;
    }
    return read;
  }

  bool Unauthorized(const Credential& used) override {
    absl::MutexLock lock(&mu_);
    if (!ReadLocked(options_.now(), StampOf(path_)).ok()) return false;
    return current_->token != used.token;
  }

 private:
  absl::Status ReadLocked(absl::Time now, const std::optional<FileStamp>& stamp)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream text;
    if (in) text << in.rdbuf();
    if (!in) {
      return absl::FailedPreconditionError(
          absl::StrCat(user_, ": cannot read token file ", path_, ": ", std::strerror(errno)));
    }
    std::string token(absl::StripAsciiWhitespace(text.str()));
    if (token.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(user_, ": token file ", path_, " is empty"));
    }
    if (!current_.has_value() || current_->token != token) {
      current_ = Credential{std::move(token), "", "", NextGeneration()};
    }
    stamp_ = stamp.value_or(FileStamp{});
    read_at_ = now;
    return absl::OkStatus();
  }

  const std::string user_;
  const std::string path_;
  const CredentialOptions options_;
  absl::Mutex mu_;
  std::optional<Credential> current_ ABSL_GUARDED_BY(mu_);
  FileStamp stamp_ ABSL_GUARDED_BY(mu_);
  absl::Time read_at_ ABSL_GUARDED_BY(mu_);
};

// --- an exec plugin ----------------------------------------------------------------------

struct ProcessResult {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal ended it
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Output beyond this is dropped: an ExecCredential is a few KiB.
constexpr size_t kMaxOutput = 1 << 20;

// Runs `argv` (argv[0] looked up on this process's $PATH when it has no slash) with `env`,
// stdin on /dev/null, in its own process group so that a timeout kills whatever it
// started too. Collects stdout and stderr. Errors: the spawn's errno (ENOENT, EACCES, ...).
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& env,
                                         absl::Duration timeout) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int e = errno;
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return absl::ErrnoToStatus(e, "pipe2");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Signals blocked by the calling thread or ignored by the process (SIGPIPE) must not be
  // the plugin's.
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::vector<char*> c_argv;
  for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  std::vector<char*> c_env;
  for (const std::string& e : env) c_env.push_back(const_cast<char*>(e.c_str()));
  c_env.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = ::posix_spawnp(&pid, c_argv[0], &actions, &attr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (spawned != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return absl::Status(absl::ErrnoToStatusCode(spawned), std::strerror(spawned));
  }

  ProcessResult result;
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(timeout);
  auto remaining_ms = [&] {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return std::max<int64_t>(0, left.count());
  };
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    const int64_t left = remaining_ms();
    if (left == 0) {
      result.timed_out = true;
      break;
    }
    const int ready = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[8192];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        if (sinks[i]->size() < kMaxOutput) sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;  // poll ignores negative descriptors
        --open_fds;
      }
    }
  }
  for (const pollfd& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  // The pipes are closed; the plugin normally has exited or is about to. Killing the group
  // before reaping the plugin also ends whatever it started.
  if (result.timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (true) {
    const pid_t waited = ::waitpid(pid, &status, result.timed_out ? 0 : WNOHANG);
    if (waited == pid) break;
    if (waited < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "waitpid");
    }
    if (remaining_ms() == 0) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!result.timed_out && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (!result.timed_out && WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

// The first lines of a plugin's stderr, for error messages.
std::string FirstLines(const std::string& text) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    if (lines.size() == 5) {
      lines.push_back("...");
      break;
    }
    std::string l(absl::StripAsciiWhitespace(line));
    if (l.size() > 200) l = l.substr(0, 200) + "...";
    lines.push_back(std::move(l));
  }
  return absl::StrJoin(lines, " | ");
}

absl::StatusOr<absl::Time> ParseTimestamp(const std::string& text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("expirationTimestamp \"", text, "\" is not RFC 3339: ", err));
  }
  return t;
}

class ExecCredentials : public CredentialSource {
 public:
  ExecCredentials(const KubeConfig& config, CredentialOptions options)
      : exec_(*config.exec),
        where_(absl::StrCat(UserOf(config), ": exec plugin \"", config.exec->command, "\"")),
        exec_info_(ExecInfo(config)),
        options_(std::move(options)) {}

  absl::StatusOr<Credential> Get() override {
    absl::MutexLock lock(&mu_);
    if (current_.has_value() &&
        (!expiry_.has_value() || options_.now() < *expiry_ - options_.expiry_margin)) {
      return *current_;
    }
    current_.reset();
    absl::Status run = RunLocked();
    if (!run.ok()) return run;
    return *current_;
  }

  bool Unauthorized(const Credential& used) override {
    absl::MutexLock lock(&mu_);
    if (current_.has_value() && current_->generation == used.generation) current_.reset();
    return true;
  }

 private:
  // KUBERNETES_EXEC_INFO, as client-go fills it: never interactive here.
  static std::string ExecInfo(const KubeConfig& config) {
    Json spec = {{"interactive", false}};
    if (config.exec->provide_cluster_info) {
      Json cluster = {{"server", config.server}};
      std::string ca = config.ca_data;
      if (!config.ca_file.empty()) {
        std::ifstream in(config.ca_file, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        ca = text.str();
      }
      if (!ca.empty()) cluster["certificate-authority-data"] = absl::Base64Escape(ca);
      if (config.insecure_skip_tls_verify) cluster["insecure-skip-tls-verify"] = true;
      if (!config.exec->cluster_config_json.empty()) {
        cluster["config"] = Json::parse(config.exec->cluster_config_json, nullptr, false);
      }
      spec["cluster"] = std::move(cluster);
    }
    return Json{{"apiVersion", config.exec->api_version},
                {"kind", "ExecCredential"},
                {"spec", std::move(spec)}}
        .dump();
  }

  std::vector<std::string> Environment() const {
    std::vector<std::pair<std::string, std::string>> vars;
    auto set = [&vars](const std::string& name, const std::string& value) {
      for (auto& [n, v] : vars) {
        if (n == name) {
          v = value;
          return;
        }
      }
      vars.emplace_back(name, value);
    };
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      absl::string_view entry(*e);
      const size_t eq = entry.find('=');
      if (eq == absl::string_view::npos) continue;
      vars.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
    for (const auto& [name, value] : exec_.env) set(name, value);
    set("KUBERNETES_EXEC_INFO", exec_info_);
    std::vector<std::string> out;
    out.reserve(vars.size());
    for (const auto& [name, value] : vars) out.push_back(absl::StrCat(name, "=", value));
    return out;
  }

  absl::Status RunLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<std::string> argv = {exec_.command};
    argv.insert(argv.end(), exec_.args.begin(), exec_.args.end());
    absl::StatusOr<ProcessResult> ran = RunProcess(argv, Environment(), options_.exec_timeout);
    if (!ran.ok()) {
      if (absl::IsNotFound(ran.status()) || absl::IsPermissionDenied(ran.status())) {
        std::string message = absl::StrCat(where_, ": cannot run it: ", ran.status().message());
        if (!exec_.install_hint.empty()) absl::StrAppend(&message, "\n\n", exec_.install_hint);
        return absl::FailedPreconditionError(message);
      }
      return absl::Status(ran.status().code(),
                          absl::StrCat(where_, ": cannot run it: ", ran.status().message()));
    }
    const std::string stderr_lines =
        ran->err.empty() ? "" : absl::StrCat("; stderr: ", FirstLines(ran->err));
    if (ran->timed_out) {
      return absl::DeadlineExceededError(absl::StrCat(where_, ": still running after ",
                                                      absl::FormatDuration(options_.exec_timeout),
                                                      ", killed", stderr_lines));
    }
    if (ran->signal != 0) {
      return absl::UnauthenticatedError(
          absl::StrCat(where_, ": killed by signal ", ran->signal, stderr_lines));
    }
    if (ran->exit_code != 0) {
      return absl::UnauthenticatedError(
          absl::StrCat(where_, ": exited with code ", ran->exit_code, stderr_lines));
    }
    auto invalid = [&](const std::string& why) {
      return absl::UnauthenticatedError(
          absl::StrCat(where_, ": printed no valid ExecCredential: ", why, stderr_lines));
    };
    const Json cred = Json::parse(ran->out, nullptr, /*allow_exceptions=*/false);
    if (!cred.is_object()) {
      const absl::string_view out = absl::StripAsciiWhitespace(ran->out);
      // Quote the output only when it is clearly not JSON: a truncated ExecCredential
      // could carry a token into the logs.
      if (out.empty()) return invalid("stdout is empty");
      if (out.front() == '{') return invalid("stdout is not a JSON object");
      std::string excerpt(out.substr(0, out.find('\n')));
      if (excerpt.size() > 100) excerpt = excerpt.substr(0, 100) + "...";
      return invalid(absl::StrCat("stdout is not JSON: \"", excerpt, "\""));
    }
    if (cred.value("kind", "") != "ExecCredential") {
      return invalid(absl::StrCat("kind is \"", cred.value("kind", ""), "\""));
    }
    if (cred.value("apiVersion", "") != exec_.api_version) {
      return invalid(absl::StrCat("apiVersion is \"", cred.value("apiVersion", ""),
                                  "\", the kubeconfig asks for ", exec_.api_version));
    }
    const auto status_it = cred.find("status");
    if (status_it == cred.end() || !status_it->is_object()) return invalid("no status");
    const Json& status = *status_it;
    auto str = [&status](const char* key) {
      const auto it = status.find(key);
      return it != status.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    Credential next{str("token"), str("clientCertificateData"), str("clientKeyData"),
                    NextGeneration()};
    if (next.client_cert_pem.empty() != next.client_key_pem.empty()) {
      return invalid("status has a clientCertificateData or a clientKeyData, not both");
    }
    if (next.token.empty() && next.client_cert_pem.empty()) {
      return invalid("status has neither a token nor clientCertificateData/clientKeyData");
    }
    std::optional<absl::Time> expiry;
    if (const std::string ts = str("expirationTimestamp"); !ts.empty()) {
      absl::StatusOr<absl::Time> parsed = ParseTimestamp(ts);
      if (!parsed.ok()) return invalid(std::string(parsed.status().message()));
      expiry = *parsed;
    }
    spdlog::debug("{}: new credential{}", where_,
                  expiry ? absl::StrCat(", expires ", absl::FormatTime(*expiry)) : "");
    current_ = std::move(next);
    expiry_ = expiry;
    return absl::OkStatus();
  }

  const ExecConfig exec_;
  const std::string where_;  // "user "x": exec plugin "cmd"" for errors
  const std::string exec_info_;
  const CredentialOptions options_;
  absl::Mutex mu_;
  std::optional<Credential> current_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Time> expiry_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<CredentialSource>> NewCredentialSource(const KubeConfig& config,
                                                                      CredentialOptions options) {
  if (!options.now) options.now = [] { return absl::Now(); };
  if (config.exec.has_value()) {
    if (config.exec->command.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(UserOf(config), ": exec plugin has no command"));
    }
    if (config.exec->interactive_mode == "Always") {
      return absl::FailedPreconditionError(absl::StrCat(
          UserOf(config), ": exec plugin \"", config.exec->command,
          "\" has interactiveMode Always, which needs a terminal; senren runs without one "
          "(set interactiveMode to Never or IfAvailable)"));
    }
    return std::unique_ptr<CredentialSource>(new ExecCredentials(config, std::move(options)));
  }
  if (!config.token_file.empty()) {
    return std::unique_ptr<CredentialSource>(
        new TokenFileCredentials(UserOf(config), config.token_file, std::move(options)));
  }
  return std::unique_ptr<CredentialSource>(new StaticCredentials(config.token));
}

}  // namespace senren::regional::kube
