# stock.mk - build iotbench's stock guest images from Debian armhf packages.
#
#   make -f stock/stock.mk stock-images     (or `make stock-images` from a
#                                            Makefile that includes this one)
#
# Outputs, all under $(STOCK_OUT) (build/stock):
#   zImage           the Debian armmp kernel
#   kernel-version   its upstream version ("6.1.176"), for store names
#   initrd.gz        initramfs: busybox + virtio/9p/ext4 modules, mounts root=
#   hostfs.ext2      the host filesystem (busybox, qemu-ga, gdbserver, modules,
#                    hostfs-template/); the device rootfs is mounted on /target
#   demo/            the demo device folder: config.yaml + rootfs/
# Downloaded packages are cached in $(STOCK_OUT)/debs and reused; package
# versions are resolved again only when the scripts change or on
# `make stock-update`. Nothing needs root (image steps run under fakeroot).
#
# Other targets: stock-update (take the archive's newest packages),
# stock-clean (everything but the download cache), stock-distclean.

STOCK_SRC := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
STOCK_SAVED_GOAL := $(.DEFAULT_GOAL)
STOCK_MK := $(STOCK_SRC)/stock.mk
STOCK_TOP := $(patsubst %/,%,$(dir $(STOCK_SRC)))
STOCK_PREFIX := $(if $(filter .,$(STOCK_TOP)),,$(STOCK_TOP)/)

STOCK_OUT ?= $(STOCK_PREFIX)build/stock
STOCK_TEMPLATE ?= $(STOCK_PREFIX)hostfs-template
STOCK_DEMO_SRC ?= $(STOCK_PREFIX)devices/demo

# What goes into the images.
STOCK_ARCH ?= armhf
STOCK_KERNEL_META ?= linux-image-armmp
STOCK_HOSTFS_PACKAGES ?= qemu-guest-agent gdbserver
# Loaded by the initramfs (what they need is added from modules.dep).
STOCK_INITRD_MODULES ?= crc32c_generic virtio_mmio virtio_pci virtio_blk virtio_net \
	virtio_console virtio-rng 9pnet_virtio 9p ext4
# Installed in the host filesystem for modprobe (boot modules included).
STOCK_HOSTFS_MODULES ?= $(STOCK_INITRD_MODULES) virtio_balloon virtio_input virtio_scsi \
	sd_mod vmw_vsock_virtio_transport loop overlay squashfs jffs2 fuse tun veth bridge \
	8021q vfat nls_cp437 nls_iso8859-1 nls_utf8
STOCK_HOSTFS_MIN_MB ?= 64
STOCK_CROSS_CC ?= arm-linux-gnueabihf-gcc
STOCK_DEMOD_CFLAGS ?= -std=c11 -Wall -Wextra -static -O1 -g -marm

STOCK_DEBS := $(STOCK_OUT)/debs
STOCK_WORK := $(STOCK_OUT)/work
STOCK_LISTS := $(STOCK_DEBS)/kernel.list $(STOCK_DEBS)/busybox.list $(STOCK_DEBS)/hostfs.list
STOCK_LIB := $(STOCK_SRC)/lib.sh $(STOCK_MK)
STOCK_TEMPLATE_FILES := $(shell find $(STOCK_TEMPLATE) 2>/dev/null)
STOCK_DEMO_FILES := $(shell find $(STOCK_DEMO_SRC) 2>/dev/null)

STOCK_ENV := STOCK_ARCH='$(STOCK_ARCH)' STOCK_KERNEL_META='$(STOCK_KERNEL_META)' \
	STOCK_HOSTFS_PACKAGES='$(STOCK_HOSTFS_PACKAGES)' \
	STOCK_INITRD_MODULES='$(STOCK_INITRD_MODULES)' \
	STOCK_HOSTFS_MODULES='$(STOCK_HOSTFS_MODULES)' \
	STOCK_HOSTFS_MIN_MB='$(STOCK_HOSTFS_MIN_MB)' \
	STOCK_CROSS_CC='$(STOCK_CROSS_CC)' STOCK_DEMOD_CFLAGS='$(STOCK_DEMOD_CFLAGS)'

.PHONY: stock-images stock-update stock-clean stock-distclean

stock-images: $(STOCK_OUT)/zImage $(STOCK_OUT)/kernel-version $(STOCK_OUT)/initrd.gz \
	$(STOCK_OUT)/hostfs.ext2 $(STOCK_OUT)/demo/config.yaml

# The lists change only when a package version does (fetch-debs.sh rewrites
# them only then), so a new resolution rebuilds only the affected images.
$(STOCK_LISTS): $(STOCK_DEBS)/.stamp
	@test -f $@ || { rm -f $<; echo "[stock] $@ missing, run make again" >&2; exit 1; }

$(STOCK_DEBS)/.stamp: $(STOCK_SRC)/fetch-debs.sh $(STOCK_LIB)
	@mkdir -p $(STOCK_DEBS)
	@$(STOCK_ENV) sh $(STOCK_SRC)/fetch-debs.sh $(STOCK_DEBS)
	@touch $@

$(STOCK_OUT)/zImage $(STOCK_OUT)/kernel-version &: $(STOCK_DEBS)/kernel.list \
		$(STOCK_SRC)/kernel.sh $(STOCK_LIB)
	@mkdir -p $(STOCK_WORK)
	@$(STOCK_ENV) sh $(STOCK_SRC)/kernel.sh $(STOCK_DEBS) $(STOCK_WORK) $(STOCK_OUT)

$(STOCK_WORK)/busybox.stamp: $(STOCK_DEBS)/busybox.list $(STOCK_SRC)/busybox.sh \
		$(STOCK_SRC)/busybox-applets.sh $(STOCK_LIB)
	@mkdir -p $(STOCK_WORK)
	@$(STOCK_ENV) sh $(STOCK_SRC)/busybox.sh $(STOCK_DEBS) $(STOCK_WORK)
	@touch $@

$(STOCK_OUT)/initrd.gz: $(STOCK_OUT)/kernel-version $(STOCK_WORK)/busybox.stamp \
		$(STOCK_SRC)/initrd.sh $(STOCK_SRC)/initrd-init.sh $(STOCK_LIB)
	@$(STOCK_ENV) sh $(STOCK_SRC)/initrd.sh $(STOCK_WORK) $(STOCK_OUT)

$(STOCK_OUT)/hostfs.ext2: $(STOCK_OUT)/kernel-version $(STOCK_WORK)/busybox.stamp \
		$(STOCK_DEBS)/hostfs.list $(STOCK_SRC)/hostfs.sh $(STOCK_LIB) $(STOCK_TEMPLATE_FILES)
	@$(STOCK_ENV) sh $(STOCK_SRC)/hostfs.sh $(STOCK_DEBS) $(STOCK_WORK) $(STOCK_TEMPLATE) $(STOCK_OUT)

# demo.sh replaces the whole folder; its config.yaml is the newest file in it.
$(STOCK_OUT)/demo/config.yaml: $(STOCK_WORK)/busybox.stamp $(STOCK_SRC)/demo.sh $(STOCK_LIB) \
		$(STOCK_DEMO_FILES)
	@$(STOCK_ENV) sh $(STOCK_SRC)/demo.sh $(STOCK_WORK) $(STOCK_DEMO_SRC) $(STOCK_OUT)

stock-update:
	@rm -f $(STOCK_DEBS)/.stamp
	@$(MAKE) --no-print-directory -f $(STOCK_MK) stock-images

stock-clean:
	rm -rf $(STOCK_WORK) $(STOCK_OUT)/zImage $(STOCK_OUT)/kernel-version \
		$(STOCK_OUT)/initrd.gz $(STOCK_OUT)/hostfs.ext2 $(STOCK_OUT)/demo

stock-distclean: stock-clean
	rm -rf $(STOCK_DEBS)

# Included from another Makefile, leave its default goal alone.
ifneq ($(firstword $(MAKEFILE_LIST)),$(STOCK_MK))
.DEFAULT_GOAL := $(STOCK_SAVED_GOAL)
endif
