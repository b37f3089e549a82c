from cxone_router.cli import main

main()
