#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "arch/arch.h"
#include "console/term.h"
#include "devices/serial.h"
#include "kvm/vcpu.h"
#include "util/evloop.h"
#include "util/log.h"
#include "sandbox/seccomp.h"
#include "util/metrics.h"
#include "vmm/migration.h"
#include "vmm/snapshot.h"
#include "vmm/control.h"
#include "vmm/vmm.h"

#define CONSOLE_BUF	 256
#define METRICS_PERIOD_S 60

struct vmm {
	struct kvm_host kvm;
	struct vm *vm;
	struct evloop loop;
	struct term term;
	int sigfd;
	int stop_signo; /* the signal that stopped the VM */

	struct ev_handler sig_h;
	struct ev_handler stop_h;
	struct ev_handler stdin_h;
	struct ev_handler space_h;
	struct ev_handler ctl_h;
	struct ev_handler metrics_h; /* a timerfd: a metrics line a minute, as Firecracker */
	struct ev_handler consock_h; /* --console-sock: a client arrives */
	struct consock *consock;
	struct vmm_control *ctl; /* the API's commands; NULL without an API */
	const struct vm_config *cfg;
	struct vm_config *api_cfg; /* API mode: the description the API edits */
	bool paused;

	/* stdin bytes read but not yet taken by the UART */
	uint8_t pend[CONSOLE_BUF];
	size_t pend_off, pend_len;
	bool stdin_on;	     /* stdin is a console input at all */
	bool stdin_pollable; /* epoll can watch it (not a regular file) */
	bool stdin_watched;
	bool stdin_eof;
	bool done;
};

static void vmm_watch_stdin(struct vmm *c, bool on)
{
	if (!c->stdin_pollable || on == c->stdin_watched)
		return;
	if (on ? evloop_add(&c->loop, &c->stdin_h, EPOLLIN) == 0
	       : evloop_del(&c->loop, &c->stdin_h) == 0)
		c->stdin_watched = on;
}

/* Hands pending input to the console device; true when all of it was taken. */
static bool vmm_flush_pending(struct vmm *c)
{
	const struct console_in *in = &c->vm->console;
	size_t n = in->push(in->dev, c->pend + c->pend_off, c->pend_len);

	c->pend_off += n;
	c->pend_len -= n;
	return c->pend_len == 0;
}

static void vmm_read_stdin(struct vmm *c)
{
	uint8_t raw[CONSOLE_BUF];
	enum term_action action = TERM_NONE;
	ssize_t n = read(STDIN_FILENO, raw, sizeof(raw));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of input: the guest keeps running, it just gets no more keys. */
		c->stdin_eof = true;
		vmm_watch_stdin(c, false);
		consock_hangup(c->consock); /* a client's: /dev/null until the next */
		return;
	}
	c->pend_off = 0;
	if (c->term.raw) {
		c->pend_len = term_filter(&c->term, raw, (size_t)n, c->pend, &action);
	} else {
		memcpy(c->pend, raw, (size_t)n);
		c->pend_len = (size_t)n;
	}
	if (action == TERM_QUIT)
		vm_request_stop(c->vm, VM_STOP_QUIT, NULL);
	else if (action == TERM_HELP && write(STDERR_FILENO, term_help, strlen(term_help)) < 0)
		return; /* stderr is gone: nowhere to show help */
}

/* Moves input to the guest until the UART is full, stdin would block, or it ended. */
static void vmm_pump_console(struct vmm *c, bool readable)
{
	for (;;) {
		if (c->pend_len && !vmm_flush_pending(c)) {
			vmm_watch_stdin(c, false); /* resume on the UART's space event */
			return;
		}
		if (c->stdin_eof || vm_stop_reason(c->vm) != VM_RUNNING)
			return;
		if (c->stdin_pollable && !readable) {
			vmm_watch_stdin(c, true);
			return;
		}
		vmm_read_stdin(c);
		readable = false;
	}
}

static void vmm_on_stdin(struct ev_handler *h, uint32_t events)
{
	(void)events;
	vmm_pump_console(container_of(h, struct vmm, stdin_h), true);
}

static void vmm_on_space(struct ev_handler *h, uint32_t events)
{
	struct vmm *c = container_of(h, struct vmm, space_h);
	uint64_t v;

	(void)events;
	if (read(h->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	vmm_pump_console(c, false);
}

/* A client took the console socket: stdin and stdout are its connection from now on. */
static void vmm_on_console_client(struct ev_handler *h, uint32_t events)
{
	struct vmm *c = container_of(h, struct vmm, consock_h);
	bool watched = c->stdin_watched;
	int ret;

	(void)events;
	/* Out of epoll before the dup2: its entry names the old connection's file. */
	vmm_watch_stdin(c, false);
	ret = consock_accept(c->consock);
	if (ret < 0) {
		if (ret != -EAGAIN)
			LOG_ONCE(LOG_WARN, "console socket: %s", strerror(-ret));
		vmm_watch_stdin(c, watched);
		return;
	}
	/* The user's terminal is no longer the console: as it was, and no escape keys. */
	term_restore(&c->term);
	if (!c->vm || !c->stdin_on)
		return; /* its input is read once the VM runs (vmm_setup_console) */
	c->stdin_eof = false;
	c->stdin_pollable = true;
	vmm_pump_console(c, false);
}

static void vmm_on_signal(struct ev_handler *h, uint32_t events)
{
	struct vmm *c = container_of(h, struct vmm, sig_h);
	struct signalfd_siginfo si;

	(void)events;
	if (read(h->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (!c->stop_signo)
		c->stop_signo = (int)si.ssi_signo;
	if (c->vm)
		vm_request_stop(c->vm, VM_STOP_SIGNAL, NULL);
	else
		c->done = true; /* no VM yet (API mode): nothing to stop but ember */
}

static void vmm_on_stop(struct ev_handler *h, uint32_t events)
{
	(void)events;
	container_of(h, struct vmm, stop_h)->done = true;
}

static const int vmm_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

/* Blocks the stop signals (vCPU threads inherit the mask) and reads them from an fd. */
static int vmm_setup_signals(struct vmm *c)
{
	sigset_t set;
	int ret;

	signal(SIGPIPE, SIG_IGN);
	ret = vcpu_signals_init();
	if (ret < 0)
		return ret;
	sigemptyset(&set);
	for (size_t i = 0; i < ARRAY_SIZE(vmm_signals); i++)
		sigaddset(&set, vmm_signals[i]);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -EINVAL;
	c->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return c->sigfd < 0 ? -errno : 0;
}

static int vmm_setup_console(struct vmm *c, const struct vm_config *cfg)
{
	int ret;

	c->stdin_h = (struct ev_handler){ .fd = STDIN_FILENO, .cb = vmm_on_stdin };
	c->space_h = (struct ev_handler){ .fd = c->vm->console.space_fd, .cb = vmm_on_space };
	c->stdin_on = c->vm->console.dev &&
		      (vm_config_serial_mode(cfg) == SERIAL_STDIO || cfg->console_virtio);
	if (!c->stdin_on)
		return 0;
	ret = term_init(&c->term, STDIN_FILENO);
	if (ret < 0)
		log_warn("console: cannot set the terminal to raw mode: %s", strerror(-ret));
	ret = evloop_add(&c->loop, &c->space_h, EPOLLIN);
	if (ret < 0)
		return ret;
	ret = evloop_add(&c->loop, &c->stdin_h, EPOLLIN);
	c->stdin_pollable = ret == 0;
	c->stdin_watched = ret == 0;
	if (ret == -EPERM) /* a regular file: always readable, read it as the UART drains */
		vmm_pump_console(c, true);
	else if (ret < 0)
		c->stdin_eof = true; /* no usable stdin (closed): run without input */
	return 0;
}

static void vmm_on_metrics_tick(struct ev_handler *h, uint32_t events)
{
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) < 0)
		return;
	if (metrics_enabled() && metrics_flush() < 0)
		LOG_ONCE(LOG_WARN, "metrics: cannot write: %s", strerror(errno));
}

static int vmm_setup_metrics_timer(struct vmm *c)
{
	struct itimerspec its = { .it_value.tv_sec = METRICS_PERIOD_S,
				  .it_interval.tv_sec = METRICS_PERIOD_S };

	c->metrics_h.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	c->metrics_h.cb = vmm_on_metrics_tick;
	if (c->metrics_h.fd < 0 || timerfd_settime(c->metrics_h.fd, 0, &its, NULL) < 0)
		return -errno;
	return evloop_add(&c->loop, &c->metrics_h, EPOLLIN);
}

static int vmm_setup_loop(struct vmm *c)
{
	int ret = evloop_init(&c->loop);

	if (ret < 0)
		return ret;
	c->sig_h = (struct ev_handler){ .fd = c->sigfd, .cb = vmm_on_signal };
	ret = evloop_add(&c->loop, &c->sig_h, EPOLLIN);
	if (ret == 0 && c->consock->listen_fd >= 0) {
		c->consock_h = (struct ev_handler){ .fd = c->consock->listen_fd,
						    .cb = vmm_on_console_client };
		ret = evloop_add(&c->loop, &c->consock_h, EPOLLIN);
	}
	return ret < 0 ? ret : vmm_setup_metrics_timer(c);
}

/* The last line, with what happened since the previous one. */
static void vmm_teardown_loop(struct vmm *c)
{
	if (metrics_enabled() && metrics_flush() < 0)
		log_warn("metrics: cannot write the last line: %s", strerror(errno));
	evloop_fini(&c->loop);
	if (c->metrics_h.fd >= 0)
		close(c->metrics_h.fd);
}

static void vmm_collect(struct vmm *c, struct vmm_result *res)
{
	if (!c->vm) {
		res->reason = VM_STOP_SIGNAL;
		res->signal = c->stop_signo;
		return;
	}
	res->reason = vm_stop_reason(c->vm);
	res->signal = c->stop_signo;
	snprintf(res->msg, sizeof(res->msg), "%s", c->vm->stop_msg);
}

static int vmm_loop(struct vmm *c)
{
	int ret = 0;

	while (!c->done && ret >= 0)
		ret = evloop_run_once(&c->loop, -1);
	return ret;
}

/* `ram`: the guest's memory made already (restore, migration; taken over), or NULL to boot. */
static int vmm_build(struct vmm *c, const struct vm_config *cfg, struct vm_ram *ram,
		     struct err *err)
{
	int ret;

	ret = kvm_open(&c->kvm, err);
	if (ret == 0)
		ret = vm_config_validate(cfg, MIN(c->kvm.max_vcpus, arch_max_vcpus()), err);
	if (ret == 0)
		return vm_create(&c->kvm, cfg, ram, &c->vm, err);
	if (ram)
		vm_ram_free(ram);
	return ret;
}

/* The control loop takes the built VM's stop event and console, then the vCPUs start. */
static int vmm_attach(struct vmm *c, const struct vm_config *cfg, struct err *err)
{
	int ret;

	c->stop_h = (struct ev_handler){ .fd = c->vm->stop_efd, .cb = vmm_on_stop };
	ret = evloop_add(&c->loop, &c->stop_h, EPOLLIN);
	if (ret == 0)
		ret = vmm_setup_console(c, cfg);
	if (ret < 0)
		return err_set(err, ret, "cannot set up the control loop: %s", strerror(-ret));
	if (cfg->track_dirty_pages) {
		ret = vm_track_dirty_pages(c->vm, err);
		if (ret < 0)
			return ret;
	}
	return vm_start(c->vm, err);
}

static int vmm_start(struct vmm *c, const struct vm_config *cfg, struct err *err)
{
	int ret;

	/*
	 * Until the VM exists a stop signal simply ends ember (nothing to undo);
	 * from here on the control loop takes it, after the VM is built.
	 */
	ret = vmm_build(c, cfg, NULL, err);
	if (ret < 0)
		return ret;
	ret = vmm_setup_signals(c);
	if (ret < 0)
		return err_set(err, ret, "cannot set up signal handling: %s", strerror(-ret));
	ret = vmm_setup_loop(c);
	if (ret < 0)
		return err_set(err, ret, "cannot set up the control loop: %s", strerror(-ret));
	ret = vmm_attach(c, cfg, err);
	return ret < 0 ? ret : seccomp_apply(SC_MAIN, err);
}

/* A failed start in API mode: undo it all, so that another InstanceStart can try again. */
static void vmm_unbuild(struct vmm *c)
{
	if (c->stdin_watched)
		evloop_del(&c->loop, &c->stdin_h);
	if (c->vm && c->vm->console.dev && c->stdin_on)
		evloop_del(&c->loop, &c->space_h);
	if (c->vm)
		evloop_del(&c->loop, &c->stop_h);
	term_restore(&c->term);
	vm_destroy(c->vm);
	c->vm = NULL;
	c->paused = false;
	kvm_close(&c->kvm);
	c->stdin_on = c->stdin_watched = c->stdin_pollable = c->stdin_eof = false;
}

static int vmm_ctl_start(struct vmm *c, struct err *err)
{
	int ret;

	if (c->vm)
		return err_set(err, -EEXIST, "the microVM is already running");
	ret = vmm_build(c, c->cfg, NULL, err);
	if (ret == 0)
		ret = vmm_attach(c, c->cfg, err);
	if (ret == 0)
		ret = seccomp_apply(SC_MAIN, err);
	if (ret < 0)
		vmm_unbuild(c);
	return ret;
}

/* The vCPUs parked, then the devices' I/O threads (no new requests meanwhile). */
static int vmm_freeze(struct vm *vm)
{
	if (vm_pause(vm) < 0)
		return -ESHUTDOWN;
	arch_pause_devices(vm, true);
	return 0;
}

static void vmm_thaw(struct vm *vm)
{
	arch_pause_devices(vm, false);
	vm_resume(vm);
}

/* Builds the VM from the snapshot and starts its vCPUs, paused unless asked otherwise. */
static int vmm_restore(struct vmm *c, const struct snapr *r, struct vm_ram *ram, bool resume,
		       struct err *err)
{
	int ret = vmm_build(c, c->cfg, ram, err);

	if (ret == 0)
		ret = snapshot_restore(c->vm, r, err);
	if (ret < 0)
		return ret;
	if (!resume) {
		/* The vCPU threads park before their first KVM_RUN. */
		atomic_store(&c->vm->pause_wanted, true);
		arch_pause_devices(c->vm, true);
		c->paused = true;
	}
	ret = vmm_attach(c, c->cfg, err);
	return ret < 0 ? ret : seccomp_apply(SC_MAIN, err);
}

/*
 * A VM built from a snapshot or a migration: its description `cfg` replaces
 * the API's once the VM runs (ret == 0); otherwise ember stays as it was,
 * ready for another try.
 */
static int vmm_adopt(struct vmm *c, struct vm_config *cfg, int ret)
{
	struct vm_config old;

	if (ret < 0)
		vmm_unbuild(c);
	old = *c->api_cfg;
	*c->api_cfg = ret < 0 ? old : *cfg;
	if (ret < 0)
		vm_config_fini(cfg);
	else
		vm_config_fini(&old);
	vm_config_init(cfg);
	c->cfg = c->api_cfg;
	return ret;
}

/* A load or receive request's changes to the description that came with the VM. */
static int vmm_override(struct vm_config *cfg, const struct ctl_overrides *ov, struct err *err)
{
	int ret = 0;

	for (unsigned int i = 0; ret == 0 && i < ov->nr_net; i++)
		ret = vm_config_override_tap(cfg, ov->net[i].iface_id, ov->net[i].host_dev_name,
					     err);
	if (ret == 0 && ov->vsock_uds)
		ret = vm_config_override_vsock_uds(cfg, ov->vsock_uds, err);
	return ret;
}

static int vmm_ctl_load(struct vmm *c, const struct ctl_snapshot *rq, struct err *err)
{
	struct vm_config cfg;
	struct vm_ram ram = { 0 };
	struct snapr r;
	int mem_fd, ret;

	if (c->vm)
		return err_set(err, -EEXIST, "the microVM is already running");
	vm_config_init(&cfg);
	ret = snapshot_read(rq->snapshot_path, &r, &cfg, err);
	if (ret == 0) {
		ret = vmm_override(&cfg, &rq->ov, err);
		if (ret < 0)
			snapr_fini(&r);
	}
	if (ret < 0) {
		vm_config_fini(&cfg);
		return ret;
	}
	cfg.track_dirty_pages = rq->track_dirty;
	mem_fd = snapshot_open_memory(rq->mem_path, err);
	c->cfg = &cfg;
	ret = mem_fd < 0 ? mem_fd : vm_ram_map_file(&cfg, mem_fd, &ram, err);
	if (mem_fd >= 0)
		close(mem_fd); /* the mapping keeps the file */
	if (ret == 0)
		ret = vmm_restore(c, &r, &ram, rq->resume, err);
	snapr_fini(&r);
	return vmm_adopt(c, &cfg, ret);
}

/* The VM comes from another ember: built, restored and running before the sender hears. */
static int vmm_ctl_receive(struct vmm *c, const struct ctl_migration *rq, struct err *err)
{
	struct migration_incoming in;
	int ret;

	if (c->vm)
		return err_set(err, -EEXIST, "the microVM is already running");
	ret = migration_receive(rq->url, rq->timeout_s, c->sigfd, &in, rq->stats, err);
	if (ret == 0)
		ret = vmm_override(&in.cfg, &rq->ov, err);
	if (ret == 0) {
		c->cfg = &in.cfg;
		ret = vmm_restore(c, &in.state, &in.ram, true, err);
	}
	/* A failed VM is torn down first: a sender on this host takes its disks and CID back. */
	ret = vmm_adopt(c, &in.cfg, ret);
	migration_answer(&in, ret, ret < 0 ? err->msg : NULL);
	migration_incoming_fini(&in);
	return ret;
}

static int vmm_mig_pause(void *ctx)
{
	return vmm_freeze(((struct vmm *)ctx)->vm);
}

static void vmm_mig_resume(void *ctx)
{
	struct vmm *c = ctx;

	if (!c->paused) /* else it was paused before the migration began */
		vmm_thaw(c->vm);
}

static int vmm_mig_handover(void *ctx, bool release)
{
	return arch_handover_devices(((struct vmm *)ctx)->vm, release);
}

static void vmm_mig_hold_writes(void *ctx, bool hold)
{
	arch_hold_device_writes(((struct vmm *)ctx)->vm, hold);
}

static int vmm_ctl_send(struct vmm *c, const struct ctl_migration *rq, struct err *err)
{
	struct migration_vm_ops ops = { .pause = vmm_mig_pause,
					.resume = vmm_mig_resume,
					.handover = vmm_mig_handover,
					.hold_writes = vmm_mig_hold_writes,
					.ctx = c,
					.stop_fd = c->sigfd };
	int ret;

	ret = migration_send(c->vm, c->cfg, rq->url, &ops, rq->stats, err);
	if (ret < 0)
		return ret;
	log_info("migration to '%s': %llu ms, %llu ms paused, %u rounds", rq->url,
		 (unsigned long long)rq->stats->total_ms,
		 (unsigned long long)rq->stats->downtime_ms, rq->stats->rounds);
	vm_request_stop(c->vm, VM_STOP_MIGRATED, NULL);
	return 0;
}

static int vmm_ctl_snapshot(struct vmm *c, const struct ctl_snapshot *rq, struct err *err)
{
	if (!c->paused)
		return err_set(err, -EINVAL, "the microVM must be paused for a snapshot");
	if (rq->diff && vm_config_has_untracked_writer(c->cfg))
		return err_set(err, -ENOTSUP,
			       "a diff snapshot of a VM with vhost-vsock is not supported: the "
			       "kernel's writes to guest memory escape the dirty log (a full "
			       "snapshot moves it)");
	/* A VM restored paused: its vCPU threads may still be on their way to park. */
	if (vm_pause(c->vm) < 0)
		return err_set(err, -ESHUTDOWN, "the microVM stopped");
	return snapshot_create(c->vm, c->cfg, rq, err);
}

static int vmm_ctl_run(struct vmm *c, enum ctl_cmd cmd, const void *arg, struct err *err)
{
	if (cmd == CTL_START)
		return vmm_ctl_start(c, err);
	if (cmd == CTL_SNAPSHOT_LOAD)
		return vmm_ctl_load(c, arg, err);
	if (cmd == CTL_MIGRATE_RECEIVE)
		return vmm_ctl_receive(c, arg, err);
	if (!c->vm)
		return err_set(err, -EINVAL, "the microVM is not running");
	switch (cmd) {
	case CTL_PAUSE:
		if (c->paused)
			return 0;
		if (vmm_freeze(c->vm) < 0)
			return err_set(err, -ESHUTDOWN, "the microVM stopped");
		c->paused = true;
		return 0;
	case CTL_RESUME:
		if (c->paused)
			vmm_thaw(c->vm);
		c->paused = false;
		return 0;
	case CTL_SNAPSHOT_CREATE:
		return vmm_ctl_snapshot(c, arg, err);
	case CTL_MIGRATE_SEND:
		return vmm_ctl_send(c, arg, err);
	case CTL_CTRL_ALT_DEL:
		return arch_ctrl_alt_del(c->vm) < 0 ? err_set(err, -ENODEV, "no keyboard") : 0;
	case CTL_POWER_BUTTON:
		arch_power_button(c->vm);
		return 0;
	default:
		return err_set(err, -ENOTSUP, "not supported by this build");
	}
}

static void vmm_on_ctl(struct ev_handler *h, uint32_t events)
{
	struct vmm *c = container_of(h, struct vmm, ctl_h);
	struct err err = { { 0 } };
	const void *arg;
	enum ctl_cmd cmd = ctl_take(c->ctl, &arg);
	int ret;

	(void)events;
	if (cmd == CTL_NONE)
		return;
	ret = vmm_ctl_run(c, cmd, arg, &err);
	ctl_reply(c->ctl, ret, &err);
}

/* Waits for the API's InstanceStart (or starts at once), then runs the VM to its end. */
static int vmm_serve_loop(struct vmm *c, bool start_now, struct err *err)
{
	int ret;

	c->ctl_h = (struct ev_handler){ .fd = c->ctl->efd, .cb = vmm_on_ctl };
	ret = evloop_add(&c->loop, &c->ctl_h, EPOLLIN);
	if (ret < 0)
		return err_set(err, ret, "cannot set up the control loop: %s", strerror(-ret));
	if (start_now) {
		ret = vmm_ctl_start(c, err);
		if (ret < 0)
			return ret;
	}
	ret = vmm_loop(c);
	return ret < 0 ? err_set(err, ret, "control loop failed: %s", strerror(-ret)) : 0;
}

/* Nothing open yet: what vmm_fini() may be called on. */
static void vmm_init(struct vmm *c, struct consock *con)
{
	*c = (struct vmm){ .kvm = { .fd = -1 },
			   .sigfd = -1,
			   .loop = { .epfd = -1 },
			   .metrics_h = { .fd = -1 },
			   .term = { .fd = -1 },
			   .consock = con };
}

/* Everything vmm_run() and vmm_serve() made, in reverse. */
static void vmm_fini(struct vmm *c)
{
	term_restore(&c->term);
	vm_destroy(c->vm);
	vmm_teardown_loop(c);
	if (c->sigfd >= 0)
		close(c->sigfd);
	kvm_close(&c->kvm);
}

int vmm_serve(struct vm_config *cfg, struct vmm_control *ctl, struct consock *con, bool start_now,
	      struct vmm_result *res, struct err *err)
{
	struct vmm c;
	int ret;

	vmm_init(&c, con);
	c.ctl = ctl;
	c.cfg = cfg;
	c.api_cfg = cfg;
	memset(res, 0, sizeof(*res));
	ret = vmm_setup_signals(&c);
	if (ret < 0)
		err_set(err, ret, "cannot set up signal handling: %s", strerror(-ret));
	if (ret == 0) {
		ret = vmm_setup_loop(&c);
		if (ret < 0)
			err_set(err, ret, "cannot set up the control loop: %s", strerror(-ret));
	}
	if (ret == 0)
		ret = vmm_serve_loop(&c, start_now, err);
	ctl_close(ctl); /* on every way out: the API thread must not wait for us */
	if (c.vm)
		vm_stop(c.vm);
	if (ret == 0)
		vmm_collect(&c, res);
	vmm_fini(&c);
	return ret;
}

int vmm_run(const struct vm_config *cfg, struct consock *con, struct vmm_result *res,
	    struct err *err)
{
	struct vmm c;
	int ret;

	vmm_init(&c, con);
	memset(res, 0, sizeof(*res));
	ret = vmm_start(&c, cfg, err);
	if (ret == 0) {
		ret = vmm_loop(&c);
		vm_stop(c.vm);
		vmm_collect(&c, res);
		if (ret < 0)
			err_set(err, ret, "control loop failed: %s", strerror(-ret));
	}
	vmm_fini(&c);
	return ret;
}
