#!/bin/sh
# Start script of the iotbench demo device, run by the host system's
# target-start as `chroot /target /piotr/init.sh` (/proc, /sys and /dev are
# already bind-mounted by then). It starts the device's services, then hands
# the console over to an interactive shell; with stdin on /dev/null
# (target-start --background) that shell exits at once and demod keeps
# running.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
PS1='[Guest]# '
export PS1
HOME=/root
export HOME
cd /

/usr/bin/demod &
echo "demo device started: demod (pid $!) serves http on port 80"
exec /bin/sh
