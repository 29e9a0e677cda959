// Latch: say so when a security key or passkey ceremony fails. allauth's webauthn.js dispatches
// `allauth.error` and, unless a listener handles it, only logs to the console; a member would see
// nothing happen. The message goes into an alert region at the top of the page's <main>.
(function () {
  'use strict'

  function describe (exception) {
    const name = exception && exception.name
    if (name === 'NotAllowedError' || name === 'AbortError') {
      return 'The security key check was cancelled or timed out. Try again when you are ready.'
    }
    if (name === 'InvalidStateError') {
      return 'This security key is already added to your account.'
    }
    if (name === 'NotSupportedError' || name === 'SecurityError') {
      return 'This browser cannot use security keys or passkeys on this page.'
    }
    return 'The security key check did not work. Try again, or use another way to confirm.'
  }

  document.addEventListener('allauth.error', function (event) {
    const tags = (event.detail && event.detail.tags) || []
    if (tags.indexOf('webauthn') === -1) {
      return
    }
    event.preventDefault()
    const main = document.getElementById('content') || document.body
    let region = document.getElementById('webauthn-error')
    if (!region) {
      region = document.createElement('p')
      region.id = 'webauthn-error'
      region.className = 'message message-error'
      region.setAttribute('role', 'alert')
      const heading = main.querySelector('h1')
      main.insertBefore(region, heading ? heading.nextSibling : main.firstChild)
    }
    region.textContent = describe(event.detail.exception)
  })
})()
