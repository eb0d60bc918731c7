"""The node-side inventory commands: one POSIX sh script (Linux and macOS) and a PowerShell variant.

Everything is printed as ``key=value`` lines between two markers, so whatever a node's shell rc files
print before or after cannot corrupt parsing. The share path and extra Houdini search roots are passed
as arguments (``sh -c SCRIPT sh SHARE ROOT...``), never interpolated into the script.
"""

from __future__ import annotations

from collections.abc import Sequence

from farmhand.ssh.quoting import powershell_encoded, powershell_quote

BEGIN = "@@FARMHAND-INVENTORY-BEGIN@@"
END = "@@FARMHAND-INVENTORY-END@@"

POSIX_SCRIPT = r"""
S="$1"; shift
LC_ALL=C; export LC_ALL
echo "@@FARMHAND-INVENTORY-BEGIN@@"
echo "hostname=$(hostname 2>/dev/null || uname -n)"
echo "os=$(uname -s)"
echo "kernel=$(uname -r)"
echo "arch=$(uname -m)"
# Each install once, by its real path: Houdini's installer also links /opt/hfs21.0 -> hfs21.0.512.
seen=" "
hfs() { p=$(cd "$1" 2>/dev/null && pwd -P) || p=$1; case "$seen" in *" $p "*) return;; esac
  seen="$seen$p "; v=$2; [ -n "$v" ] || { v=${p##*/}; v=${v#hfs}; }; echo "houdini=$p|$v"; }
case "$(uname -s)" in
Darwin)
  echo "os_name=macOS $(sw_vers -productVersion 2>/dev/null)"
  echo "cpus_logical=$(sysctl -n hw.logicalcpu)"
  echo "cpus_physical=$(sysctl -n hw.physicalcpu)"
  echo "mem_total_kb=$(( $(sysctl -n hw.memsize) / 1024 ))"
  vm_stat | awk '/page size of/ {ps=$8} /Pages (free|inactive|speculative)/ {gsub(/\./,"",$NF); n+=$NF}
                 END {printf "mem_available_kb=%d\n", n*ps/1024}'
  echo "load=$(sysctl -n vm.loadavg | tr -d '{}' | awk '{print $1, $2, $3}')"
  # macOS prints the netmask in hex (0xffffff00); the parser turns it into a prefix length.
  ifconfig -a | awk '/^[a-z0-9]+:/ {i=$1; sub(":", "", i)} /^[ \t]+ether / {print "iface=" i " mac=" $2}
                     /^[ \t]+inet / && $2 != "127.0.0.1" {print "ipv4=" i " " $2 "/" $4}'
  system_profiler SPDisplaysDataType 2>/dev/null | awk -F': ' '/Chipset Model/ {print "gpu=" $2 "||"}'
  for d in /Applications/Houdini/Houdini*/Frameworks/Houdini.framework/Versions/*/Resources; do
    [ -d "$d" ] || continue; v=${d%/Resources}; hfs "$d" "${v##*/}"; done
  ;;
*)
  [ -r /etc/os-release ] && . /etc/os-release && echo "os_name=$PRETTY_NAME"
  echo "cpus_logical=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)"
  echo "cpus_physical=$(awk -F': *' '/^physical id/ {p=$2} /^core id/ {c[p "-" $2]=1}
                                    END {n=0; for (k in c) n++; print n}' /proc/cpuinfo)"
  awk '/^MemTotal:/ {print "mem_total_kb=" $2} /^MemAvailable:/ {print "mem_available_kb=" $2}' /proc/meminfo
  echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
  for d in /sys/class/net/*; do n=${d##*/}; [ "$n" = lo ] && continue
    echo "iface=$n mac=$(cat "$d/address" 2>/dev/null)"; done
  if command -v ip >/dev/null 2>&1; then
    ip -o -4 addr show | awk '$2 != "lo" {print "ipv4=" $2 " " $4}'
  fi
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits 2>/dev/null |
      awk -F', *' 'NF >= 3 {print "gpu=" $1 "|" $2 "|" $3}'
  fi
  for d in /opt/hfs* /opt/sidefx/hfs*; do [ -d "$d" ] && hfs "$d"; done
  ;;
esac
for r in "$@"; do for d in "$r"/hfs*; do [ -d "$d" ] && hfs "$d"; done; done
if [ -n "$S" ]; then
  echo "share=$S"
  df -Pk "$S" 2>/dev/null | awk 'NR == 2 {print "share_free_kb=" $4}'
fi
echo "@@FARMHAND-INVENTORY-END@@"
"""


def posix_argv(share: str = "", extra_roots: Sequence[str] = ()) -> list[str]:
    """The argv for a Linux or macOS node (quoted by the executor like any other argv)."""
    return ["sh", "-c", POSIX_SCRIPT, "sh", share, *extra_roots]


POWERSHELL_SCRIPT = r"""
$ErrorActionPreference = 'SilentlyContinue'
'@@FARMHAND-INVENTORY-BEGIN@@'
$cs = Get-CimInstance Win32_ComputerSystem
$os = Get-CimInstance Win32_OperatingSystem
$cpu = @(Get-CimInstance Win32_Processor)
"hostname=$env:COMPUTERNAME"
'os=Windows'
"os_name=$($os.Caption)"
"kernel=$($os.Version)"
"arch=$env:PROCESSOR_ARCHITECTURE"
"cpus_logical=$($cs.NumberOfLogicalProcessors)"
"cpus_physical=$(($cpu | Measure-Object -Property NumberOfCores -Sum).Sum)"
"mem_total_kb=$($os.TotalVisibleMemorySize)"
"mem_available_kb=$($os.FreePhysicalMemory)"
$l = ($cpu | Measure-Object -Property LoadPercentage -Average).Average
"load_percent=$l"
foreach ($a in Get-NetAdapter) { "iface=$($a.Name -replace ' ', '_') mac=$($a.MacAddress)" }
foreach ($i in Get-NetIPAddress -AddressFamily IPv4) {
  if ($i.IPAddress -ne '127.0.0.1') {
    "ipv4=$($i.InterfaceAlias -replace ' ', '_') $($i.IPAddress)/$($i.PrefixLength)" } }
foreach ($g in Get-CimInstance Win32_VideoController) {
  "gpu=$($g.Name)|$([math]::Round($g.AdapterRAM / 1MB))|$($g.DriverVersion)" }
$roots = @('C:\Program Files\Side Effects Software') + $ExtraRoots
foreach ($r in $roots) { foreach ($d in Get-ChildItem -Directory -Path $r -Filter 'Houdini *') {
  "houdini=$($d.FullName)|$($d.Name -replace '^Houdini ', '')" } }
if ($Share) {
  "share=$Share"
  $q = Get-Item -LiteralPath $Share
  if ($q) {
    $drive = New-Object System.IO.DriveInfo($q.PSDrive.Root)
    "share_free_kb=$([math]::Floor($drive.AvailableFreeSpace / 1KB))" } }
'@@FARMHAND-INVENTORY-END@@'
"""


def powershell_script(share: str = "", extra_roots: Sequence[str] = ()) -> str:
    roots = ", ".join(powershell_quote(r) for r in extra_roots) or ""
    prologue = f"$Share = {powershell_quote(share)}\n$ExtraRoots = @({roots})\n"
    return prologue + POWERSHELL_SCRIPT


def windows_command(share: str = "", extra_roots: Sequence[str] = ()) -> str:
    """The command line for a Windows OpenSSH node (default shell cmd.exe or PowerShell alike):
    base64 UTF-16 text passes through either shell untouched."""
    encoded = powershell_encoded(powershell_script(share, extra_roots))
    return f"powershell -NoProfile -NonInteractive -EncodedCommand {encoded}"
