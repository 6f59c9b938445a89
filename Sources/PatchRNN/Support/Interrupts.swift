import CSync

/// SIGINT and SIGTERM as a flag that training polls after every step, so that it can finish
/// the step, save its state and exit (a second signal of the same kind ends the process at
/// once). The command-line tool installs the handlers; the library only reads the flag.
public enum Interrupts {
    /// Installs the handlers (and unblocks the two signals, which a parent may have blocked).
    public static func install() { csync_install_interrupt_handlers() }

    /// The signal received since installation (0: none).
    public static var signal: Int32 { csync_interrupt_signal() }
}
