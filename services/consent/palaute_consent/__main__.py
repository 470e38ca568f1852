from palaute_consent.cli import main

main()
