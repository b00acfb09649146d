#!/bin/sh
# Stands in for nvidia-smi on a machine without a working NVIDIA driver (recorded
# message and exit status 9).
echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
exit 9
