import CSync
import Foundation

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT as a flag that training polls after every step, so that
/// it can finish the step, save its state and exit (a second signal of the same kind ends the
/// process at once). The command-line tool installs the handlers; the library only reads the
/// flag.
package enum Interrupts {
    /// The signals that stop training with a resume state.
    package static let stopSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// Installs the handlers (and unblocks the signals, which a parent may have blocked).
    package static func install() { csync_install_interrupt_handlers() }

    /// The four signals not blocked, whatever the parent left (Foundation's Process starts
    /// children with some blocked), so that they take their normal action in every command;
    /// an action the parent set to "ignore" stays as it is. SIGQUIT gets its default action
    /// back: the Swift runtime catches it to print a crash report (and then carries on), which
    /// is not what a user who asks a process to quit means.
    package static func reset() {
        csync_unblock_interrupt_signals()
        csync_reset_quit_signal()
    }

    /// Puts the signals' previous actions back (after training: a Ctrl-C during the final
    /// files or generation ends the process at once). A signal that came after the last step
    /// takes its normal effect now, unless `signalHandled` (it already stopped training).
    /// (Training that ends in an error does not uninstall them: the error is reported first.)
    package static func uninstall(signalHandled: Bool = false) { csync_uninstall_interrupt_handlers(signalHandled ? 0 : 1) }

    /// The signal received since installation (0: none).
    package static var signal: Int32 { csync_interrupt_signal() }
}
