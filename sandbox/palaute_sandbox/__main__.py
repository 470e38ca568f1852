from palaute_sandbox.cli import main

main()
