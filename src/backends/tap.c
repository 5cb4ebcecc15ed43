#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backends/tap.h"

static const char *attach_error(int e)
{
	switch (e) {
	case EPERM:
		return "not allowed (needs CAP_NET_ADMIN or ownership)";
	case EINVAL:
		return "exists but is not a tap device with a vnet header";
	case EBUSY:
		return "in use by another process (two VMs cannot share a tap)";
	default:
		return strerror(e);
	}
}

static int tap_configure(int fd, const char *ifname, struct err *err)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int hdr_len = TAP_VNET_HDR_LEN;

	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return err_set(err, -errno, "tap '%s': %s", ifname, attach_error(errno));
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0)
		return err_set(err, -errno, "tap '%s': cannot set the header size: %s", ifname,
			       strerror(errno));
	/* Until the guest says what it accepts, the host kernel finishes every frame. */
	if (tap_set_offload(fd, 0) < 0)
		return err_set(err, -errno, "tap '%s': TUNSETOFFLOAD: %s", ifname, strerror(errno));
	return 0;
}

int tap_open(const char *ifname, int *fd, struct err *err)
{
	int ret;

	if (strlen(ifname) == 0 || strlen(ifname) >= IFNAMSIZ)
		return err_set(err, -EINVAL, "tap name '%s': 1 to %d characters", ifname,
			       IFNAMSIZ - 1);
	*fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (*fd < 0)
		return err_set(err, -errno, "tap '%s': /dev/net/tun: %s", ifname, strerror(errno));
	ret = tap_configure(*fd, ifname, err);
	if (ret < 0) {
		close(*fd);
		*fd = -1;
	}
	return ret;
}

bool tap_is_persistent(int fd)
{
	struct ifreq ifr = { 0 };

	return ioctl(fd, TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_PERSIST);
}

int tap_set_offload(int fd, unsigned int tun_flags)
{
	return ioctl(fd, TUNSETOFFLOAD, tun_flags) < 0 ? -errno : 0;
}
