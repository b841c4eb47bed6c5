// SynthCV: UnrealCV commands for synth (see ue_plugin/README.md).
#include "SynthCVModule.h"

#include "Misc/CommandLine.h"
#include "Modules/ModuleManager.h"
#include "Server/UnrealcvServer.h"
#include "SynthCommands.h"

DEFINE_LOG_CATEGORY_STATIC(LogSynthCV, Log, All);

void FSynthCVModule::StartupModule()
{
	// UnrealCV does not start in commandlets (cooking) or on dedicated servers; neither do we.
	if (IsRunningCommandlet() || IsRunningDedicatedServer())
	{
		return;
	}
	Commands = MakeShared<FSynthCommands>();
	TSharedPtr<FCommandDispatcher> Dispatcher = FUnrealcvServer::Get().GetCommandDispatcher();
	if (!Dispatcher.IsValid())
	{
		UE_LOG(LogSynthCV, Error, TEXT("UnrealCV's command dispatcher is missing; is the UnrealCV plugin enabled?"));
		return;
	}
	Commands->Register(*Dispatcher);
	UE_LOG(LogSynthCV, Display, TEXT("SynthCV commands registered with UnrealCV"));
}

void FSynthCVModule::ShutdownModule()
{
	// The dispatcher's delegates hold shared references to Commands; they go with UnrealCV's server.
	Commands.Reset();
}

IMPLEMENT_MODULE(FSynthCVModule, SynthCV)
