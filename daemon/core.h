// The core process: owns the config and the children, handles signals
// (SIGTERM/SIGINT stop, SIGHUP reload) and tells systemd how things stand.
#pragma once

#include <time.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/config/model.h"
#include "daemon/control.h"
#include "daemon/ev.h"
#include "daemon/log.h"
#include "daemon/supervisor.h"

namespace vigil {

struct CoreOptions {
    std::string config_path;
    std::string runtime_dir;
    log::Options log;
    RestartPolicyOptions restart;
    std::chrono::milliseconds stop_grace{5000};   // per child, then SIGKILL
    std::chrono::milliseconds reload_timeout{30000};  // children's ReloadDone, then READY anyway
    std::chrono::milliseconds query_timeout{2000};    // children's answers to a control query
    bool keep_capabilities = false;                   // children keep core's (--keep-capabilities)
};

// The pid file in the runtime dir, locked with flock() for as long as core
// runs: a second vigild on the same runtime dir is refused, one on another
// runtime dir (another network namespace) runs side by side.
class PidFile {
public:
    // nullopt with *error set when the lock is taken or the file cannot be made.
    static std::optional<PidFile> acquire(const std::string& runtime_dir, std::string* error);
    PidFile(PidFile&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) { other.fd_ = -1; }
    PidFile& operator=(PidFile&&) = delete;
    PidFile(const PidFile&) = delete;
    ~PidFile();
    // Writes our pid (call again after daemonising: the pid changed).
    bool write_pid();
    int fd() const { return fd_; }

private:
    PidFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
    std::string path_;
    int fd_ = -1;
};

class Core {
public:
    // control_fd: the listening control socket (ControlSocket), or -1 for none.
    Core(ev::Loop* loop, CoreOptions opts, std::shared_ptr<const config::Config> config, int pidfile_fd,
         int control_fd = -1);
    Core(const Core&) = delete;
    Core& operator=(const Core&) = delete;
    // Starts the children and runs until stopped; returns the exit status.
    int run();

    // Last state each VRRP instance reported (0 Init, 1 Backup, 2 Master, 3 Fault).
    struct InstanceStatus {
        uint8_t state = 0;
        uint8_t priority = 0;
    };

private:
    struct ReloadResult {
        bool ok = false;
        std::string error;               // the ERROR line for a control client
        std::vector<std::string> lines;  // file:line errors, or warnings
    };
    // A control socket request that waits for the children's answers.
    struct PendingQuery {
        control::ControlServer::ClientId client = 0;
        control::Command command = control::Command::Status;
        std::set<std::string> waiting;              // children yet to send their last slice
        std::map<std::string, std::string> answers;  // child -> its text so far
        std::chrono::steady_clock::time_point deadline;
    };

    ChildContext make_context(const std::string& child);
    void on_message(const std::string& child, const ipc::Message& m);
    void on_child_exit(const std::string& child);
    ReloadResult reload(const char* why);
    void finish_reload_if_done();
    void on_control(control::ControlServer::ClientId client, control::Command command);
    void on_query_reply(const std::string& child, const ipc::Message& m);
    void finish_query(uint32_t id);
    void expire_queries();
    std::string status_text(const PendingQuery& q) const;
    std::string stats_text(const PendingQuery& q) const;
    void shutdown(const char* why);
    void notify_ready();
    void resign_masters();

    ev::Loop* loop_;
    CoreOptions opts_;
    std::shared_ptr<const config::Config> config_;
    Supervisor supervisor_;
    ev::Signal sigterm_, sigint_, sighup_;
    ev::Timer watchdog_;
    ev::Timer reload_timer_;
    std::set<std::string> not_ready_;       // children yet to send ChildReady at start
    std::set<std::string> reload_waiting_;  // children yet to answer the current reload
    bool reloading_ = false;                // RELOADING=1 sent, READY=1 not yet
    bool started_ = false;                  // READY=1 sent once
    bool stopping_ = false;
    int exit_status_ = 0;
    std::map<std::string, InstanceStatus> instances_;

    std::unique_ptr<control::ControlServer> control_;
    std::map<uint32_t, PendingQuery> queries_;
    uint32_t next_query_id_ = 1;
    ev::Timer query_timer_;
    std::vector<control::ControlServer::ClientId> reload_clients_;  // answered when the reload completes
    std::vector<std::string> reload_problems_;  // children that refused or did not confirm it
    std::vector<std::string> reload_warnings_;  // the new config's warnings, for those clients
    std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
    time_t config_loaded_at_ = time(nullptr);
    uint64_t reloads_ = 0, reload_failures_ = 0;
};

}  // namespace vigil
