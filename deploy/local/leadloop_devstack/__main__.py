from leadloop_devstack.cli import main

main()
