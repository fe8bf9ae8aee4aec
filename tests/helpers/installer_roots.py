"""/etc/os-release of the systems the installer knows, for fake roots in its dry-run tests."""

OS_RELEASE = {
    "ubuntu18": 'NAME="Ubuntu"\nVERSION_ID="18.04"\nID=ubuntu\nVERSION_CODENAME=bionic\n',
    "ubuntu20": 'NAME="Ubuntu"\nVERSION_ID="20.04"\nID=ubuntu\nVERSION_CODENAME=focal\n',
    "ubuntu22": 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nVERSION_CODENAME=jammy\n',
    "ubuntu24": 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nVERSION_CODENAME=noble\n',
    "debian12": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\nVERSION_CODENAME=bookworm\n',
    "fedora": 'NAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\n',
}
