/*
 * emberd's networks: a Linux bridge with the host's address on it, NAT to
 * the outside through nftables (masquerade), DHCP from a dnsmasq that
 * emberd starts and stops, and one persistent tap per VM interface,
 * attached to the bridge before ember opens it and deleted after.
 *
 * The work is done by the standard tools (ip, nft, dnsmasq), as their
 * packages install them; a failed step undoes the steps before it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/vm_json.h"
#include "manager/mgr.h"
#include "manager/network.h"
#include "manager/store.h"

/* Runs a tool, feeding it `input`; its first line of complaint becomes the error. */
static int run_tool(char *const argv[], const char *input, struct err *err)
{
	int in[2], out[2], status;
	char msg[256] = "";
	ssize_t n;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return err_set(err, -errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		/* emberd blocks its stop signals; a daemon started here (dnsmasq) must not. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		execvp(argv[0], argv);
		dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (input && pid > 0 && write(in[1], input, strlen(input)) < 0)
		msg[0] = '\0';
	close(in[1]);
	n = read(out[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	close(out[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return err_set(err, -errno, "%s: %s", argv[0], strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(err, -EIO, "%s failed: %s", argv[0],
			       msg[0] ? msg : "no reason given");
	return 0;
}

#define TOOL(err, ...) run_tool((char *const[]){ __VA_ARGS__, NULL }, NULL, err)

/* --- definitions ------------------------------------------------------------------------ */

static bool ipv4_ok(const char *s)
{
	struct in_addr a;

	return s && inet_pton(AF_INET, s, &a) == 1;
}

/* "10.0.0.1/24": the address and the prefix length. */
static int parse_cidr(const char *s, struct in_addr *addr, unsigned int *prefix)
{
	char buf[32];
	const char *slash = s ? strchr(s, '/') : NULL;
	char *end;
	unsigned long p;

	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%.*s", (int)(slash - s), s);
	p = strtoul(slash + 1, &end, 10);
	if (*end || end == slash + 1 || p < 8 || p > 30 || inet_pton(AF_INET, buf, addr) != 1)
		return -EINVAL;
	*prefix = (unsigned int)p;
	return 0;
}

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v = json_object_object_get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int net_check(struct json_object *def, struct err *err)
{
	static const char *const fields[] = { "name:s", "bridge:s", "ipv4:s",
					      "nat:b",	"dhcp:o",   "autostart:b" };
	struct json_object *dhcp = json_object_object_get(def, "dhcp");
	struct in_addr a;
	unsigned int prefix;
	const char *bridge;
	int ret;

	if (!json_object_is_type(def, json_type_object))
		return err_set(err, -EINVAL, "a network definition is a JSON object");
	ret = vm_json_check(def, "network", fields, sizeof(fields) / sizeof(fields[0]), err);
	if (ret < 0)
		return ret;
	if (!str(def, "name") || !mgr_name_ok(str(def, "name")))
		return err_set(err, -EINVAL,
			       "network: 'name' must be 1 to 64 of letters, digits, "
			       "'_', '.' and '-'");
	if (parse_cidr(str(def, "ipv4"), &a, &prefix) < 0)
		return err_set(err, -EINVAL,
			       "network: 'ipv4' must be the host's address and prefix, like "
			       "\"10.0.0.1/24\" (/8 to /30)");
	bridge = str(def, "bridge");
	if (bridge && (!bridge[0] || strlen(bridge) >= IFNAMSIZ || strpbrk(bridge, "/ \t\n:")))
		return err_set(err, -EINVAL,
			       "network: 'bridge' must be an interface name of 1 to "
			       "15 characters");
	if (dhcp && (!ipv4_ok(str(dhcp, "start")) || !ipv4_ok(str(dhcp, "end"))))
		return err_set(err, -EINVAL,
			       "network: 'dhcp' must be {\"start\": ADDRESS, \"end\": ADDRESS}");
	return 0;
}

/* The bridge's name: given, or "em-" and the network's name, cut to fit IFNAMSIZ. */
void net_bridge_name(struct json_object *def, char out[IFNAMSIZ])
{
	const char *b = str(def, "bridge");

	if (b)
		snprintf(out, IFNAMSIZ, "%s", b);
	else
		snprintf(out, IFNAMSIZ, "em-%.12s", str(def, "name"));
}

/* --- running ---------------------------------------------------------------------------- */

bool net_is_up(struct json_object *def)
{
	char br[IFNAMSIZ];

	net_bridge_name(def, br);
	return if_nametoindex(br) != 0;
}

static int nat_rules(struct json_object *def, const char *br, bool add, struct err *err)
{
	char script[512], table[80];
	struct in_addr a, net;
	unsigned int prefix;
	int ret;

	if (parse_cidr(str(def, "ipv4"), &a, &prefix) < 0)
		return -EINVAL;
	net.s_addr = a.s_addr & htonl(~0u << (32 - prefix));
	snprintf(table, sizeof(table), "ember_%.60s", str(def, "name"));
	for (char *p = table; *p; p++)
		if (*p == '-' || *p == '.')
			*p = '_';
	if (!add)
		return run_tool((char *const[]){ "nft", "delete", "table", "ip", table, NULL },
				NULL, err);
	snprintf(script, sizeof(script),
		 "table ip %s {\n"
		 " chain postrouting {\n"
		 "  type nat hook postrouting priority 100; policy accept;\n"
		 "  ip saddr %s/%u ip daddr != %s/%u masquerade\n"
		 " }\n"
		 " chain forward {\n"
		 "  type filter hook forward priority 0; policy accept;\n"
		 "  iifname \"%s\" accept\n"
		 "  oifname \"%s\" ct state established,related accept\n"
		 " }\n"
		 "}\n",
		 table, inet_ntoa(net), prefix, inet_ntoa(net), prefix, br, br);
	ret = run_tool((char *const[]){ "nft", "-f", "-", NULL }, script, err);
	if (ret == 0) {
		int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, "1", 1) != 1)
			ret = err_set(err, -errno, "cannot turn on IPv4 forwarding: %s",
				      strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return ret;
}

static int start_dhcp(struct json_object *def, const char *br, const char *run, struct err *err)
{
	struct json_object *dhcp = json_object_object_get(def, "dhcp");
	char range[96], pidfile[512], leases[512], iface[32];

	snprintf(range, sizeof(range), "--dhcp-range=%s,%s", str(dhcp, "start"), str(dhcp, "end"));
	snprintf(pidfile, sizeof(pidfile), "--pid-file=%s/dnsmasq.pid", run);
	snprintf(leases, sizeof(leases), "--dhcp-leasefile=%s/leases", run);
	snprintf(iface, sizeof(iface), "--interface=%s", br);
	return run_tool((char *const[]){ "dnsmasq", "--conf-file=/dev/null", "--port=0",
					 "--bind-interfaces", "--except-interface=lo", iface, range,
					 pidfile, leases, NULL },
			NULL, err);
}

static void stop_dhcp(const char *run)
{
	char path[512], buf[32] = "";
	FILE *f;
	int pid;

	snprintf(path, sizeof(path), "%s/dnsmasq.pid", run);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f) && (pid = atoi(buf)) > 1)
		kill(pid, SIGTERM);
	fclose(f);
	unlink(path);
}

int net_start(struct json_object *def, const char *run, struct err *err)
{
	char br[IFNAMSIZ];
	bool nat = json_object_get_boolean(json_object_object_get(def, "nat"));
	int ret;

	net_bridge_name(def, br);
	if (if_nametoindex(br))
		return err_set(err, -EEXIST, "network '%s': interface '%s' exists already",
			       str(def, "name"), br);
	if (mkdir(run, 0700) < 0 && errno != EEXIST)
		return err_set(err, -errno, "'%s': %s", run, strerror(errno));
	ret = TOOL(err, "ip", "link", "add", br, "type", "bridge");
	if (ret == 0)
		ret = TOOL(err, "ip", "addr", "add", (char *)str(def, "ipv4"), "dev", br);
	if (ret == 0)
		ret = TOOL(err, "ip", "link", "set", br, "up");
	if (ret == 0 && nat)
		ret = nat_rules(def, br, true, err);
	if (ret == 0 && json_object_object_get(def, "dhcp"))
		ret = start_dhcp(def, br, run, err);
	if (ret < 0) {
		struct err ignored = { { 0 } };

		if (nat)
			nat_rules(def, br, false, &ignored);
		TOOL(&ignored, "ip", "link", "del", br);
		err_prefix(err, "network '%s': ", str(def, "name"));
	}
	return ret;
}

void net_stop(struct json_object *def, const char *run)
{
	struct err ignored = { { 0 } };
	char br[IFNAMSIZ];

	net_bridge_name(def, br);
	stop_dhcp(run);
	if (json_object_get_boolean(json_object_object_get(def, "nat")))
		nat_rules(def, br, false, &ignored);
	TOOL(&ignored, "ip", "link", "del", br);
}

int net_attach_tap(struct json_object *def, const char *tap, const uid_t *owner, const gid_t *group,
		   struct err *err)
{
	char br[IFNAMSIZ], uid[16], gid[16];
	struct err ignored = { { 0 } };
	int ret;

	net_bridge_name(def, br);
	if (!tap || !tap[0] || strlen(tap) >= IFNAMSIZ)
		return err_set(err, -EINVAL, "bad tap name");
	snprintf(uid, sizeof(uid), "%u", owner ? (unsigned int)*owner : 0);
	snprintf(gid, sizeof(gid), "%u", group ? (unsigned int)*group : 0);
	/* A jailed ember may attach to a persistent tap only as its owner. */
	ret = owner ? TOOL(err, "ip", "tuntap", "add", "dev", (char *)tap, "mode", "tap",
			   "vnet_hdr", "user", uid, "group", gid)
		    : TOOL(err, "ip", "tuntap", "add", "dev", (char *)tap, "mode", "tap",
			   "vnet_hdr");
	if (ret == 0)
		ret = TOOL(err, "ip", "link", "set", (char *)tap, "master", br, "up");
	if (ret < 0)
		TOOL(&ignored, "ip", "link", "del", (char *)tap);
	return ret;
}

void net_detach_tap(const char *tap)
{
	struct err ignored = { { 0 } };

	if (tap && if_nametoindex(tap))
		TOOL(&ignored, "ip", "link", "del", (char *)tap);
}
