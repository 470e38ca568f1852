from palaute_collector.cli import main

main()
