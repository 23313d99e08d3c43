<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en" sourcelanguage="en">
<context>
    <name>ChatView</name>
    <message numerus="yes">
        <source>↓ %n new message(s)</source>
        <translation>
            <numerusform>↓ %n new message</numerusform>
            <numerusform>↓ %n new messages</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>Copy %n message(s)</source>
        <translation>
            <numerusform>Copy %n message</numerusform>
            <numerusform>Copy %n messages</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>ConferenceView</name>
    <message numerus="yes">
        <source>%n packet(s) could not be opened (wrong passphrase?)</source>
        <translation>
            <numerusform>%n packet could not be opened (wrong passphrase?)</numerusform>
            <numerusform>%n packets could not be opened (wrong passphrase?)</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>Main</name>
    <message numerus="yes">
        <source>This window hosts the relay: everyone else on it will be dropped (%n connection(s)), and its rooms stay closed until someone hosts or starts a relay again.</source>
        <translation>
            <numerusform>This window hosts the relay: everyone else on it will be dropped (%n connection), and its rooms stay closed until someone hosts or starts a relay again.</numerusform>
            <numerusform>This window hosts the relay: everyone else on it will be dropped (%n connections), and its rooms stay closed until someone hosts or starts a relay again.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n message(s) could not be opened (wrong passphrase?)</source>
        <translation>
            <numerusform>%n message could not be opened (wrong passphrase?)</numerusform>
            <numerusform>%n messages could not be opened (wrong passphrase?)</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%n member(s)</source>
        <translation>
            <numerusform>%n member</numerusform>
            <numerusform>%n members</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>SearchPanel</name>
    <message numerus="yes">
        <source>%n message(s) found</source>
        <translation>
            <numerusform>%n message found</numerusform>
            <numerusform>%n messages found</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>RoomBrowser</name>
    <message numerus="yes">
        <source>%n member(s)</source>
        <translation>
            <numerusform>%n member</numerusform>
            <numerusform>%n members</numerusform>
        </translation>
    </message>
</context>
</TS>
