//! Every word a person reads: the hosted pages, the wallet button's messages, the mails and
//! what each error code means. Templates (`gateway/templates/`) hold markup only and take
//! their words from here, so a translation is one more [`Words`] value: the compiler then
//! insists on every sentence. `{name}` marks a value filled in with [`fill`] (the escaping is
//! the template's, after filling).
//!
//! The API's `detail` sentences are for developers and stay beside the code that refuses.

/// The catalogue of one language.
pub struct Words {
    /// The `lang` of pages and HTML mails.
    pub lang: &'static str,
    pub page: PageWords,
    pub mfa_page: MfaPageWords,
    pub passkey: PasskeyWords,
    pub wallet: WalletWords,
    pub mail: MailWords,
    pub error: ErrorWords,
    pub home: HomeWords,
    pub account: AccountWords,
}

/// The words in use. One language today; a pool's locale would pick another here.
pub fn words() -> &'static Words {
    &EN
}

/// `text` with each `{key}` replaced by its value.
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (key, value) in values {
        out = out.replace(&format!("{{{key}}}"), value);
    }
    out
}

/// The hosted challenge page and the backup codes shown after an app is set up.
pub struct MfaPageWords {
    pub title: &'static str,
    pub intro: &'static str,
    pub setup_title: &'static str,
    pub setup_intro: &'static str,
    pub app_setup_title: &'static str,
    pub app_setup_scan: &'static str,
    pub app_setup_type: &'static str,
    pub choose: &'static str,
    pub factor_totp: &'static str,
    pub factor_email: &'static str,
    pub factor_backup_code: &'static str,
    pub factor_passkey: &'static str,
    pub code_label: &'static str,
    pub submit: &'static str,
    pub send_email: &'static str,
    pub email_sent: &'static str,
    pub backup_codes_title: &'static str,
    pub backup_codes_intro: &'static str,
    pub continue_label: &'static str,
}

pub struct PageWords {
    pub email: &'static str,
    pub password: &'static str,
    pub back_to_sign_in: &'static str,
    pub sign_in_title: &'static str,
    pub sign_in: &'static str,
    /// `{idp}`: an identity provider's name.
    pub sign_in_with: &'static str,
    /// `{email}`, `{idp}`: a first sign-in through an IdP whose email has an account here.
    pub link_first: &'static str,
    pub or: &'static str,
    pub create_account_link: &'static str,
    pub forgot_password_link: &'static str,
    pub signed_in_title: &'static str,
    pub signed_in: &'static str,
    pub signed_out_title: &'static str,
    pub signed_out: &'static str,
    pub signup_title: &'static str,
    pub signup_submit: &'static str,
    /// `{min}`: the pool's minimum password length.
    pub new_password_hint: &'static str,
    pub confirm_title: &'static str,
    pub confirm_submit: &'static str,
    /// `{email}`: the address the code was (perhaps) sent to.
    pub confirm_sent: &'static str,
    pub code_label: &'static str,
    pub chosen_password: &'static str,
    pub chosen_password_why: &'static str,
    pub email_confirmed: &'static str,
    pub recover_title: &'static str,
    pub recover_submit: &'static str,
    pub reset_title: &'static str,
    pub reset_submit: &'static str,
    /// `{email}`: the address the code was (perhaps) sent to.
    pub reset_sent: &'static str,
    pub undo_title: &'static str,
    pub undo_explain: &'static str,
    pub undo_submit: &'static str,
    pub logout_title: &'static str,
    pub logout_question: &'static str,
    pub logout_submit: &'static str,
    pub csrf_title: &'static str,
    pub bad_authorize_link: &'static str,
    pub unknown_client: &'static str,
    pub unregistered_redirect: &'static str,
    pub bad_logout_link: &'static str,
    pub logout_repeated_parameter: &'static str,
    pub logout_foreign_token: &'static str,
    pub logout_two_clients: &'static str,
    pub logout_unregistered_redirect: &'static str,
}

/// "Sign in with Ethereum": the button, and what the page's script says while it works.
/// The passkey button of the login and challenge pages (its script shows these).
pub struct PasskeyWords {
    pub sign_in: &'static str,
    pub answer: &'static str,
    pub waiting: &'static str,
    pub declined: &'static str,
    pub failed: &'static str,
    pub unsupported: &'static str,
}

pub struct WalletWords {
    pub button: &'static str,
    pub needs_javascript: &'static str,
    pub no_wallet: &'static str,
    pub waiting: &'static str,
    pub no_account: &'static str,
    pub cannot_start: &'static str,
    pub confirm: &'static str,
    pub signing_in: &'static str,
    pub declined: &'static str,
    pub failed: &'static str,
    /// The statement of the EIP-4361 message the wallet shows; `{name}`: the pool's name.
    pub statement: &'static str,
}

/// One mail: its subject and its paragraphs (`{pool}`, `{code}`, `{wallet}` filled in).
pub struct MailText {
    pub subject: &'static str,
    pub lines: &'static [&'static str],
}

pub struct MailWords {
    /// Closes mails that a stranger may have caused.
    pub ignore: &'static str,
    /// Closes notices of a change to the account.
    pub secure: &'static str,
    /// Above the code in HTML mails.
    pub code_caption: &'static str,
    pub signup_code: MailText,
    pub existing_account: MailText,
    pub recovery_code: MailText,
    pub recovery_used: MailText,
    pub recovery_nothing_changed: &'static str,
    pub recovery_changes: &'static str,
    pub password_changed: MailText,
    pub email_change_code: MailText,
    pub email_changed: MailText,
    pub email_changed_undo: &'static str,
    pub email_changed_undo_explain: &'static str,
    pub undo_button: &'static str,
    pub wallet_linked: MailText,
    pub wallet_unlinked: MailText,
    pub identity_linked: MailText,
    pub identity_unlinked: MailText,
    pub invitation: MailText,
    pub account_deleted: MailText,
    pub mfa_code: MailText,
    pub mfa_changed: MailText,
    pub password_compromised: MailText,
    pub password_blocked: MailText,
    pub new_sign_in: MailText,
    /// `{network}`: the sign-in's network.
    pub new_sign_in_network: &'static str,
    /// `{device}`: the browser or program.
    pub new_sign_in_device: &'static str,
    /// What changed, as the `{change}` of `mfa_changed`.
    pub mfa_changes: MfaChangeWords,
}

pub struct MfaChangeWords {
    pub totp_added: &'static str,
    pub totp_removed: &'static str,
    pub email_added: &'static str,
    pub email_removed: &'static str,
    pub backup_codes_replaced: &'static str,
    pub passkey_added: &'static str,
    pub passkey_removed: &'static str,
    pub cleared: &'static str,
}

impl MailWords {
    /// The sentence of `change`.
    pub fn mfa_change(&self, change: accounts::mail::MfaChange) -> &'static str {
        use accounts::mail::MfaChange as C;
        let w = &self.mfa_changes;
        match change {
            C::TotpAdded => w.totp_added,
            C::TotpRemoved => w.totp_removed,
            C::EmailAdded => w.email_added,
            C::EmailRemoved => w.email_removed,
            C::PasskeyAdded => w.passkey_added,
            C::PasskeyRemoved => w.passkey_removed,
            C::BackupCodesReplaced => w.backup_codes_replaced,
            C::Cleared => w.cleared,
        }
    }
}

/// What each error code means to a person (the table in `http::code` picks one per code).
pub struct ErrorWords {
    pub invalid_credentials: &'static str,
    pub account_disabled: &'static str,
    pub rate_limited: &'static str,
    pub invalid_email: &'static str,
    pub password_policy: &'static str,
    pub code_invalid: &'static str,
    pub email_taken: &'static str,
    pub nonce_invalid: &'static str,
    pub signature_invalid: &'static str,
    pub siwe_other_site: &'static str,
    pub siwe_chain_not_allowed: &'static str,
    pub siwe_out_of_date: &'static str,
    pub siwe_message_invalid: &'static str,
    pub chain_unreachable: &'static str,
    pub csrf_invalid: &'static str,
    pub unavailable: &'static str,
    pub internal_error: &'static str,
    pub password_required: &'static str,
    pub current_password_required: &'static str,
    pub reauthentication_required: &'static str,
    pub request_expired: &'static str,
    pub session_expired: &'static str,
    pub invalid_attributes: &'static str,
    pub wallet_already_linked: &'static str,
    pub wallet_not_found: &'static str,
    pub last_credential: &'static str,
    pub not_found: &'static str,
    pub bad_request: &'static str,
    pub not_allowed: &'static str,
    pub too_large: &'static str,
    pub storage_unavailable: &'static str,
    pub password_compromised: &'static str,
    pub password_reset_required: &'static str,
    pub passkey_invalid: &'static str,
    pub mfa_code_invalid: &'static str,
    pub mfa_session_invalid: &'static str,
    pub mfa_already_enrolled: &'static str,
    pub mfa_not_enrolled: &'static str,
    pub factor_not_allowed: &'static str,
    pub last_factor: &'static str,
    pub email_unverified: &'static str,
    pub idp_not_found: &'static str,
    pub identity_taken: &'static str,
    pub federation_state_invalid: &'static str,
    pub federation_failed: &'static str,
    pub idp_unavailable: &'static str,
    pub sign_up_denied: &'static str,
    pub hook_failed: &'static str,
}

/// The account page (`/account`): what a signed-in person sees and ends of their own.
pub struct AccountWords {
    pub title: &'static str,
    pub link: &'static str,
    pub sign_in_first: &'static str,
    pub profile: &'static str,
    pub no_email: &'static str,
    pub verified: &'static str,
    pub unverified: &'static str,
    pub password: &'static str,
    pub password_set: &'static str,
    pub no_password: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub change_password: &'static str,
    pub password_changed: &'static str,
    pub wallets: &'static str,
    pub no_wallets: &'static str,
    pub identities: &'static str,
    pub no_identities: &'static str,
    /// `{idp}`: an identity provider's name.
    pub link_identity: &'static str,
    pub unlink_identity: &'static str,
    pub identity_unlinked: &'static str,
    pub groups: &'static str,
    pub sessions: &'static str,
    pub this_session: &'static str,
    /// `{time}`: when the session was last used (UTC).
    pub last_used: &'static str,
    pub end_session: &'static str,
    pub session_ended: &'static str,
    pub delete_title: &'static str,
    pub delete_explain: &'static str,
    pub delete_confirm: &'static str,
    pub delete_submit: &'static str,
    pub delete_unconfirmed: &'static str,
    pub deleted_title: &'static str,
    pub deleted: &'static str,
}

/// The gateway's own front page (`/`), for operators.
pub struct HomeWords {
    pub title: &'static str,
    pub intro: &'static str,
    pub sign_in: &'static str,
    pub discovery: &'static str,
    pub health: &'static str,
    pub docs: &'static str,
}

pub const EN: Words = Words {
    lang: "en",
    passkey: PasskeyWords {
        sign_in: "Sign in with a passkey",
        answer: "Use a passkey",
        waiting: "Follow your browser's prompt to use your passkey.",
        declined: "You cancelled the passkey prompt.",
        failed: "The passkey could not be used. Try again, or sign in another way.",
        unsupported: "This browser cannot use passkeys.",
    },
    mfa_page: MfaPageWords {
        title: "Confirm it's you",
        intro: "Enter a code from your authenticator app, one we email you, or a backup code.",
        setup_title: "Set up a second step",
        setup_intro: "This service asks for a second step at sign-in. Set up an authenticator \
                      app, or have a code emailed to you.",
        app_setup_title: "Authenticator app",
        app_setup_scan: "Scan this code with your authenticator app,",
        app_setup_type: "or type in this key:",
        choose: "Confirm with",
        factor_totp: "Authenticator app",
        factor_email: "A code by email",
        factor_backup_code: "A backup code",
        factor_passkey: "A passkey (use the button below)",
        code_label: "Code",
        submit: "Continue",
        send_email: "Email me a code",
        email_sent: "We emailed you a code. It expires in 5 minutes.",
        backup_codes_title: "Save your backup codes",
        backup_codes_intro: "Each code signs you in once if you lose your authenticator app. \
                             Keep them somewhere safe: they are shown only now.",
        continue_label: "Continue",
    },
    page: PageWords {
        email: "Email",
        password: "Password",
        back_to_sign_in: "Back to sign in",
        sign_in_title: "Sign in",
        sign_in: "Sign in",
        sign_in_with: "Sign in with {idp}",
        link_first: "An account with {email} already exists here. Sign in to it, and your \
                     {idp} sign-in will be added to it.",
        or: "or",
        create_account_link: "Create an account",
        forgot_password_link: "Forgot your password?",
        signed_in_title: "You are signed in",
        signed_in: "You can close this window and go back to the application.",
        signed_out_title: "You are signed out",
        signed_out: "You can close this window.",
        signup_title: "Create an account",
        signup_submit: "Create account",
        new_password_hint: "At least {min} characters. Long and unusual is best.",
        confirm_title: "Check your email",
        confirm_submit: "Confirm",
        confirm_sent: "If {email} can be used, we sent a code to it. Enter it below.",
        code_label: "Code from the email",
        chosen_password: "The password you chose",
        chosen_password_why: "The code confirms the sign-up made with this password.",
        email_confirmed: "Your email is confirmed. Sign in to continue.",
        recover_title: "Reset your password",
        recover_submit: "Send a code",
        reset_title: "Choose a new password",
        reset_submit: "Set password and sign in",
        reset_sent: "If {email} belongs to an account, we sent a code to it.",
        undo_title: "Undo the email change",
        undo_explain: "This gives your account this email address back, signs out every \
                       session, and sends a recovery code to this address so you can choose \
                       a new password.",
        undo_submit: "Undo the change",
        logout_title: "Sign out?",
        logout_question: "Do you want to sign out of this service?",
        logout_submit: "Sign out",
        csrf_title: "Please try again",
        bad_authorize_link: "This sign-in link is not valid",
        unknown_client: "This application is not registered here.",
        unregistered_redirect: "The address this application asked to return to is not \
                                registered.",
        bad_logout_link: "This sign-out link is not valid",
        logout_repeated_parameter: "A parameter is repeated.",
        logout_foreign_token: "The sign-out link carries a token this service did not issue.",
        logout_two_clients: "The sign-out link names two different applications.",
        logout_unregistered_redirect: "The address this application asked to return to \
                                       after signing out is not registered.",
    },
    wallet: WalletWords {
        button: "Sign in with Ethereum",
        needs_javascript: "Signing in with a wallet needs JavaScript.",
        no_wallet: "No Ethereum wallet was found in this browser. Install or unlock one, then \
                    try again.",
        waiting: "Waiting for your wallet…",
        no_account: "Your wallet shared no account.",
        cannot_start: "The sign-in could not start. Try again.",
        confirm: "Confirm the sign-in in your wallet…",
        signing_in: "Signing you in…",
        declined: "You declined the request in your wallet. Nothing was signed.",
        failed: "The wallet sign-in failed. Try again.",
        statement: "Sign in to {name}.",
    },
    mail: MailWords {
        ignore: "If this was not you, you can ignore this mail.",
        secure: "If this was not you, recover your account now and review its sign-in \
                 methods.",
        code_caption: "Your code",
        signup_code: MailText {
            subject: "Your {pool} sign-up code: {code}",
            lines: &[
                "Your code to confirm your email address is {code}.",
                "It expires in 10 minutes.",
            ],
        },
        existing_account: MailText {
            subject: "Someone tried to sign up to {pool} with your address",
            lines: &[
                "An account with this email address already exists.",
                "If you forgot your password, use account recovery.",
            ],
        },
        recovery_code: MailText {
            subject: "Your {pool} recovery code: {code}",
            lines: &[
                "Your code to recover your account is {code}.",
                "It expires in 10 minutes.",
            ],
        },
        recovery_used: MailText {
            subject: "Your {pool} account was recovered",
            lines: &[
                "Your account was just recovered with a code sent to this address, and \
                      every other session was signed out.",
            ],
        },
        recovery_nothing_changed: "Nothing else changed on your account in the last 7 days.",
        recovery_changes: "What changed on your account in the last 7 days (remove anything \
                           you do not recognise now, while this recovery session is fresh):",
        password_changed: MailText {
            subject: "Your {pool} password was changed",
            lines: &[
                "The password of your account was just changed, and your other sessions \
                      were signed out.",
            ],
        },
        email_change_code: MailText {
            subject: "Your {pool} code to confirm this address: {code}",
            lines: &[
                "Your code to make this the email address of your account is {code}.",
                "It expires in 10 minutes.",
            ],
        },
        email_changed: MailText {
            subject: "The email address of your {pool} account was changed",
            lines: &[
                "The email address of your account was changed; this address no longer \
                      signs in.",
            ],
        },
        email_changed_undo: "If this was not you, undo the change within 72 hours:",
        email_changed_undo_explain: "This gives the account this address back, signs out \
                                     every session, and sends a recovery code here.",
        undo_button: "Undo the change",
        wallet_linked: MailText {
            subject: "A wallet was linked to your {pool} account",
            lines: &["The wallet {wallet} can now sign in to your account."],
        },
        wallet_unlinked: MailText {
            subject: "A wallet was removed from your {pool} account",
            lines: &["The wallet {wallet} no longer signs in to your account."],
        },
        identity_linked: MailText {
            subject: "Sign-in with {idp} was added to your {pool} account",
            lines: &["Your {idp} account can now sign in to your {pool} account."],
        },
        identity_unlinked: MailText {
            subject: "Sign-in with {idp} was removed from your {pool} account",
            lines: &["Your {idp} account no longer signs in to your {pool} account."],
        },
        invitation: MailText {
            subject: "You are invited to {pool}: your code {code}",
            lines: &[
                "An account was made for you. Your code to set its password is {code}.",
                "Choose \"Forgot your password?\" on the sign-in page, give this address, \
                      the code and a new password. The code works for 7 days.",
            ],
        },
        account_deleted: MailText {
            subject: "Your {pool} account was deleted",
            lines: &[
                "Your account and everything it held were deleted, as asked. Its sessions \
                      are signed out and its wallets are free.",
            ],
        },
        mfa_code: MailText {
            subject: "Your {pool} sign-in code: {code}",
            lines: &[
                "Your code to finish signing in is {code}.",
                "It expires in 5 minutes. If you are not signing in, someone knows your \
                 password: change it.",
            ],
        },
        new_sign_in: MailText {
            subject: "A new sign-in to your {pool} account",
            lines: &[
                "Your account was just signed in to from somewhere it was not signed in from \
                 before. If it was you, there is nothing to do. If not, change your password \
                 and sign out everywhere from your account page.",
            ],
        },
        new_sign_in_network: "The network: {network}, which your account never signed in from.",
        new_sign_in_device: "The browser: {device}, new to your account.",
        password_compromised: MailText {
            subject: "Your {pool} password appeared in a data breach",
            lines: &[
                "The password you signed in with is in a list of passwords leaked from another \
                 service, so others may try it on your account.",
                "Change it now, and anywhere else you used it.",
            ],
        },
        password_blocked: MailText {
            subject: "Choose a new {pool} password",
            lines: &[
                "The password you signed in with is in a list of passwords leaked from another \
                 service, so signing in with it is blocked.",
                "Choose a new one: use \"Forgot your password?\" on the sign-in page.",
            ],
        },
        mfa_changed: MailText {
            subject: "Your {pool} sign-in security changed",
            lines: &["{change}"],
        },
        mfa_changes: MfaChangeWords {
            totp_added: "An authenticator app now gives your account's second factor.",
            totp_removed: "The authenticator app was removed from your account.",
            email_added: "Codes sent to this address are now a second factor of your account.",
            email_removed: "Codes sent to this address are no longer a second factor of your \
                            account.",
            passkey_added: "A passkey was added: it signs in to your account.",
            passkey_removed: "A passkey was removed from your account.",
            backup_codes_replaced: "Your backup codes were replaced: the old ones no longer \
                                    work.",
            cleared: "An administrator removed every second factor from your account.",
        },
    },
    error: ErrorWords {
        invalid_credentials: "That email and password don't match an account. Check them and \
                              try again.",
        account_disabled: "This account is disabled. Contact the service's support.",
        rate_limited: "Too many attempts. Wait a few minutes, then try again.",
        invalid_email: "Enter a valid email address.",
        password_policy: "Choose a longer password that isn't common and isn't your email \
                          address.",
        code_invalid: "That code is wrong or has expired. Check the latest email, or ask for \
                       a new code.",
        email_taken: "That email address can't be used.",
        nonce_invalid: "The wallet request expired. Try signing in with your wallet again.",
        signature_invalid: "Your wallet's signature could not be checked. Try again.",
        siwe_other_site: "The wallet signed a message for another site. Try again from this \
                          page.",
        siwe_chain_not_allowed: "Your wallet is on a network this service doesn't accept. \
                                 Switch networks and try again.",
        siwe_out_of_date: "The wallet request is out of date. Check your device's clock and \
                           try again.",
        siwe_message_invalid: "Your wallet signed a message this service can't read. Try \
                               again from this page.",
        chain_unreachable: "Your wallet's network can't be reached right now. Try again later.",
        csrf_invalid: "This form expired or came from another site. Reload the page and try \
                       again.",
        unavailable: "The service is briefly unavailable. Try again in a moment.",
        internal_error: "Something went wrong on our side. Try again in a moment.",
        password_required: "Enter the password you chose when you signed up.",
        current_password_required: "Enter your current password to make this change.",
        reauthentication_required: "Sign in again to make this change.",
        password_compromised: "This password appeared in a data breach elsewhere, so others may \
                               try it. Choose another.",
        password_reset_required: "This password appeared in a data breach elsewhere. We emailed \
                                  you: choose a new one with \"Forgot your password?\".",
        passkey_invalid: "That passkey could not be used here. Try again, or sign in another way.",
        mfa_code_invalid: "That code is wrong or was already used. Check it and try again.",
        mfa_session_invalid: "This sign-in took too long or had too many wrong codes. Sign in \
                              again.",
        mfa_already_enrolled: "That is already set up. Remove it first to set it up again.",
        mfa_not_enrolled: "That is not set up on your account.",
        factor_not_allowed: "That way of confirming it's you is not available here.",
        last_factor: "This service requires a second step at sign-in: keep at least one.",
        email_unverified: "Confirm your email address first.",
        idp_not_found: "That way of signing in isn't available here.",
        identity_taken: "That account already signs in to another account here.",
        federation_state_invalid: "This sign-in didn't start in this browser, or took too \
                                   long. Start again from the sign-in page.",
        federation_failed: "We couldn't confirm your sign-in with that provider. Try again, \
                            or sign in another way.",
        idp_unavailable: "That sign-in provider can't be reached right now. Try again later, \
                          or sign in another way.",
        sign_up_denied: "Sign-up isn't open to this account.",
        hook_failed: "We couldn't complete this right now. Try again in a few minutes.",
        request_expired: "This sign-in took too long. Go back to the application and start \
                          again.",
        session_expired: "Your session has ended. Sign in again.",
        invalid_attributes: "Some of the details you entered can't be used. Check them and \
                             try again.",
        wallet_already_linked: "This wallet already signs in to an account.",
        wallet_not_found: "This wallet is not linked to your account.",
        last_credential: "This is the last way to sign in to your account. Add another one \
                          first.",
        not_found: "This page doesn't exist. Check the address.",
        bad_request: "This request could not be understood. Reload the page and try again.",
        not_allowed: "This isn't allowed here.",
        too_large: "That is too much at once. Send less and try again.",
        storage_unavailable: "File storage is not available right now. Try again later.",
    },
    home: HomeWords {
        title: "Gatehouse",
        intro: "An identity gateway. Pools:",
        sign_in: "sign in",
        discovery: "OpenID configuration",
        health: "Health:",
        docs: "The API and guides are in the project's docs/ folder.",
    },
    account: AccountWords {
        title: "Your account",
        link: "Manage your account",
        sign_in_first: "Sign in to see your account.",
        profile: "Profile",
        no_email: "No email address",
        verified: "verified",
        unverified: "not verified",
        password: "Password",
        password_set: "Set",
        no_password: "None",
        current_password: "Current password",
        new_password: "New password",
        change_password: "Change the password",
        password_changed: "Your password was changed, and your other sessions were signed out.",
        wallets: "Wallets",
        no_wallets: "No wallet is linked.",
        identities: "Sign-in providers",
        no_identities: "No sign-in provider is linked.",
        link_identity: "Link {idp}",
        unlink_identity: "Remove",
        identity_unlinked: "The sign-in provider was removed.",
        groups: "Groups",
        sessions: "Where you are signed in",
        this_session: "This browser",
        last_used: "last used {time} UTC",
        end_session: "Sign out",
        session_ended: "That session is signed out.",
        delete_title: "Delete your account",
        delete_explain: "This deletes your account and everything it holds, signs out every \
                         session and frees your wallets. It cannot be undone.",
        delete_confirm: "I want to delete my account",
        delete_submit: "Delete my account",
        delete_unconfirmed: "Tick the box to confirm that you want to delete your account.",
        deleted_title: "Account deleted",
        deleted: "Your account was deleted. A notice was sent to your email address.",
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_every_placeholder() {
        assert_eq!(
            fill(
                EN.mail.signup_code.subject,
                &[("pool", "Acme"), ("code", "123456")]
            ),
            "Your Acme sign-up code: 123456"
        );
        assert_eq!(fill("{a}{a}", &[("a", "x")]), "xx");
    }
}
