from palaute_dispatcher.cli import main

main()
