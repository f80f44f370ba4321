# SPDX-License-Identifier: GPL-2.0
# Guest side of scripts/kernel.sh for targets shipped without a usable
# System.map (Debian's is a stub): print the kernel's own symbol table,
# compressed, with a checksum, on the console; then its ELF notes.
gz=/tmp/kallsyms.gz
grep -v '\[' /proc/kallsyms | gzip -9 >"$gz"
echo "KSYM-MD5: $(md5sum <"$gz" | cut -d' ' -f1)"
base64 <"$gz" | sed 's/^/KSYM:/'
echo "KSYM-END"
# The kernel's ELF notes (its build ID among them), as hex.
echo "KNOTES: $(od -An -v -tx1 /sys/kernel/notes | tr -d ' \n')"
